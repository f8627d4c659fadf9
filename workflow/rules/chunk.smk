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
    threads: threads_of("chunk")
    resources:
        **job_resources("chunk"),
    shell:
        "exec factor-step chunk {params.p:q} {log:q} {threads} {resources.wsclean_mem_mb} {resources.scratch:q}"


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
    threads: threads_of("skymodels")
    resources:
        **job_resources("skymodels"),
    shell:
        "exec factor-step skymodels {params.p:q} {log:q} {threads} {resources.wsclean_mem_mb} {resources.scratch:q}"
