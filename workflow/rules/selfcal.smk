rule facetselfcal:
    input:
        residual=lambda wc: flat_residual(STEPS["selfcal"][wc.stage]["residual"]),
        history=lambda wc: history_files(STEPS["selfcal"][wc.stage]["history"]),
        preapply=lambda wc: [f for c in STEPS["selfcal"][wc.stage]["preapply"] for f in (c["h5"], c["selfcal_json"])],
    output:
        **stage_outputs("results/facetselfcal/{stage}"),
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


rule peel:
    input:
        residual=lambda wc: flat_residual(STEPS["selfcal"][wc.stage]["residual"]),
        history=lambda wc: history_files(STEPS["selfcal"][wc.stage]["history"]),
        peel_skymodel=lambda wc: STEPS["selfcal"][wc.stage]["peel_skymodel"],
    output:
        **stage_outputs("results/{peelop}/{stage}"),
    params:
        p=step_params("selfcal", "stage"),
    conda:
        "../envs/factor.yaml"
    log:
        "logs/{peelop}/{stage}.log",
    benchmark:
        "benchmarks/{peelop}/{stage}.tsv"
    threads: threads_of("facetselfcal")
    resources:
        **job_resources("facetselfcal"),
    priority: 10
    shell:
        "exec factor-step peel {params.p:q} {log:q} {threads} {resources.wsclean_mem_mb} {resources.scratch:q}"
