rule chunk:
    input:
        ms=lambda wc: ancient(STEPS["chunk"][wc.chunk]["ms"]),
    output:
        directory("chunks/{band}/{chunk}.ms"),
    params:
        p=step_params("chunk", "chunk"),
    conda:
        "../envs/factor.yaml"
    log:
        "logs/chunk/{band}/{chunk}.log",
    benchmark:
        "benchmarks/chunk/{band}/{chunk}.tsv"
    threads: workflow.cores
    resources:
        mem_mb=2000,
    shell:
        "factor-step chunk {params.p:q} {log:q} {threads}"


rule skymodels:
    input:
        lambda wc: ancient(STEPS["skymodels"][wc.band]["di_skymodel"]),
    output:
        expand("results/skymodels/{{band}}/{direction}.facet.skymodel", direction=DIRECTIONS),
    params:
        p=step_params("skymodels", "band"),
    conda:
        "../envs/factor.yaml"
    log:
        "logs/skymodels/{band}.log",
    benchmark:
        "benchmarks/skymodels/{band}.tsv"
    threads: 1
    resources:
        mem_mb=500,
    shell:
        "factor-step skymodels {params.p:q} {log:q} {threads}"
