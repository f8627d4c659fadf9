rule facetselfcal:
    input:
        residual=lambda wc: flat_residual(STEPS["selfcal"][wc.stage]["residual"]),
        history=lambda wc: history_files(STEPS["selfcal"][wc.stage]["history"]),
        preapply=lambda wc: [f for c in STEPS["selfcal"][wc.stage]["preapply"] for f in (c["h5"], c["selfcal_json"])],
    output:
        **selfcal_outputs("{stage}"),
    params:
        p=step_params("selfcal", "stage"),
    conda:
        "../envs/factor.yaml"
    log:
        "logs/facetselfcal/{stage}.log",
    benchmark:
        "benchmarks/facetselfcal/{stage}.tsv"
    threads: threads_of("facetselfcal")
    resources:
        **job_resources("facetselfcal"),
    priority: 10
    shell:
        "exec factor-step selfcal {params.p:q} {log:q} {threads} {resources.wsclean_mem_mb} {resources.scratch:q}"
