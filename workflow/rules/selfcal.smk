rule facetselfcal:
    input:
        residual=lambda wc: flat_residual(STEPS["selfcal"][wc.direction]["residual"]),
        skymodels=lambda wc: band_skymodels(wc.direction),
    output:
        **selfcal_outputs("{direction}"),
    params:
        p=step_params("selfcal", "direction"),
    log:
        "logs/facetselfcal/{direction}.log",
    benchmark:
        "benchmarks/facetselfcal/{direction}.tsv"
    threads: workflow.cores
    resources:
        mem_mb=4000,
    priority: 10
    shell:
        "factor-step selfcal {params.p:q} {log:q} {threads}"
