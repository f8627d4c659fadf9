rule facetimage:
    input:
        unpack(facetimage_inputs),
    output:
        image="results/facetimage/{direction}/image.fits",
        residual="results/facetimage/{direction}/residual.fits",
    params:
        p=step_params("facetimage", "direction"),
    conda:
        "../envs/factor.yaml"
    log:
        "logs/facetimage/{direction}.log",
    benchmark:
        "benchmarks/facetimage/{direction}.tsv"
    threads: threads_of("facetimage")
    resources:
        **job_resources("facetimage"),
    shell:
        "exec factor-step facetimage {params.p:q} {log:q} {threads} {resources.wsclean_mem_mb} {resources.scratch:q}"
