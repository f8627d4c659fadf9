rule facetsub:
    input:
        unpack(lambda wc: selfcal_outputs(wc.stage)),
        residual=lambda wc: STEPS["subtract"][wc.stage][wc.chunk]["in_ms"],
        history=lambda wc: history_files(STEPS["subtract"][wc.stage][wc.chunk]["history"]),
    output:
        directory("results/facetsub/{stage}/{chunk}.ms"),
    params:
        p=step_params("subtract", "stage", "chunk"),
    conda:
        "../envs/factor.yaml"
    log:
        "logs/facetsub/{stage}/{chunk}.log",
    benchmark:
        "benchmarks/facetsub/{stage}/{chunk}.tsv"
    threads: threads_of("facetsub")
    resources:
        **job_resources("facetsub"),
    priority: 10
    shell:
        "exec factor-step subtract {params.p:q} {log:q} {threads} {resources.wsclean_mem_mb} {resources.scratch:q}"
