"""Console progress of a run, read from Snakemake's own output.

runfactor lets Snakemake print everything to ``factor.log`` and shows the user a compact view:
per job "started"/"finished" lines with the operation and direction, "N of M jobs", elapsed
time — one updating status line on a terminal, plain lines otherwise — and, for a failed job,
the operation, the direction, the log file and the tail of that log.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from .workflow_state import OPERATION_OF_RULE, direction_of, stage_direction

_RULE = re.compile(r"^(?:local)?rule (\w+):")
_ERROR = re.compile(r"^Error in rule (\w+):")
_FIELD = re.compile(r"^\s+(\w+): (.*)$")
_FINISHED = re.compile(r"Finished jobid: (\d+)")
_STEPS = re.compile(r"(\d+) of (\d+) steps")


@dataclass
class Job:
    rule: str
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        wc = dict(kv.split("=", 1) for kv in self.fields.get("wildcards", "").split(", ") if "=" in kv)
        output = self.fields.get("output", "").split(",")[0].strip()
        what = wc.get("stage") or wc.get("direction") or wc.get("band") or (direction_of(output) if output else "")
        stage = wc.get("stage", "")
        direction = stage_direction(stage) if stage else what
        extra = f" pass {stage.rpartition('.p')[2]}" if stage and direction != stage else ""
        chunk = f" {wc['chunk']}" if "chunk" in wc else ""
        operation = (wc.get("imageop") or wc.get("mosaicop") or wc.get("peelop")
                     or OPERATION_OF_RULE.get(self.rule, self.rule))
        return f"{operation} {direction}{extra}{chunk}".strip()


class Progress:
    def __init__(self, out: TextIO, dir_working: Path, quiet: bool = False, verbose: bool = False):
        self.out, self.dir_working, self.quiet, self.verbose = out, dir_working, quiet, verbose
        self.tty = out.isatty()
        self.start = time.monotonic()
        self.jobs: dict[str, Job] = {}
        self.running: dict[str, Job] = {}
        self.failed: list[Job] = []
        self.done, self.total = 0, 0
        self._block: Job | None = None
        self._in_error = False

    def elapsed(self) -> str:
        s = int(time.monotonic() - self.start)
        return f"{s // 3600:d}:{s % 3600 // 60:02d}:{s % 60:02d}"

    def _say(self, text: str) -> None:
        if self.quiet:
            return
        if self.tty:
            self.out.write("\r\033[K")
        self.out.write(f"[{self.elapsed()}] {text}\n")
        self._status()

    def _status(self) -> None:
        if self.tty and not self.quiet:
            running = ", ".join(j.label for j in self.running.values()) or "-"
            self.out.write(f"[{self.elapsed()}] {self.done}/{self.total or '?'} jobs done; running: {running}")
        self.out.flush()

    def _close_block(self) -> None:
        job, self._block = self._block, None
        if job is None:
            return
        jobid = job.fields.get("jobid")
        if self._in_error:
            self._in_error = False
            started = self.jobs.get(jobid or "")
            if started is not None:  # the error block has no wildcards; the start block had them
                job = Job(job.rule, {**started.fields, **job.fields})
            self.running.pop(jobid or "", None)
            self.failed.append(job)
            return
        if jobid is not None:
            self.jobs[jobid] = job
            self.running[jobid] = job
            self._say(f"started {job.label}")

    def feed(self, line: str) -> None:
        line = line.rstrip("\n")
        if self.verbose and not self.quiet:
            self.out.write(line + "\n")
        m_field = _FIELD.match(line)
        if self._block is not None and m_field:
            self._block.fields[m_field.group(1)] = m_field.group(2)
            if m_field.group(1) == "resources" and not self._in_error:
                # The last line of Snakemake's job block: the job starts now, and nothing else
                # is printed until it ends, so waiting for the next line would report the
                # start only at the finish.
                self._close_block()
            return
        self._close_block()
        if m := _RULE.match(line):
            self._block = Job(m.group(1))
        elif m := _ERROR.match(line):
            self._block, self._in_error = Job(m.group(1)), True
        elif m := _FINISHED.search(line):
            job = self.running.pop(m.group(1), None)
            if job is not None:
                self._say(f"finished {job.label}")
        if m := _STEPS.search(line):
            self.done, self.total = int(m.group(1)), int(m.group(2))
            self._status()

    def finish(self) -> None:
        self._close_block()
        if self.tty and not self.quiet:
            self.out.write("\r\033[K")
            self.out.flush()

    def failure_report(self, tail_lines: int = 15) -> list[str]:
        """One paragraph per failed job: what failed, where its log is, the log's last lines."""
        lines = []
        for job in self.failed:
            log = job.fields.get("log", "").split(" (check")[0].split(",")[0].strip()
            path = (self.dir_working / log) if log else None
            lines.append(f"job {job.label} failed; log: {path if path else '(none)'}")
            if path and path.is_file():
                tail = path.read_text(errors="replace").splitlines()[-tail_lines:]
                lines += [f"    {t}" for t in tail]
        return lines
