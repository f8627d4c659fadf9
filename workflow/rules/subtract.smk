rule facetsub:
    input:
        unpack(lambda wc: selfcal_outputs(wc.direction)),
        residual=lambda wc: STEPS["subtract"][wc.direction][wc.chunk]["in_ms"],
        di_model=lambda wc: STEPS["subtract"][wc.direction][wc.chunk]["di_model"],
    output:
        directory("results/facetsub/{direction}/{chunk}.ms"),
    params:
        p=step_params("subtract", "direction", "chunk"),
    log:
        "logs/facetsub/{direction}/{chunk}.log",
    benchmark:
        "benchmarks/facetsub/{direction}/{chunk}.tsv"
    threads: workflow.cores
    resources:
        mem_mb=2000,
    priority: 10
    shell:
        "factor-step subtract {params.p:q} {log:q} {threads}"
