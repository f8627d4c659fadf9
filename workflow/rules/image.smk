rule facetdata:
    input:
        unpack(facetdata_inputs),
    output:
        data=[directory(f"results/facetdata/{{direction}}/facet_data_t{i}.ms") for i in range(NCHUNKS)],
        summary="results/facetdata/{direction}/facetdata.json",
    params:
        p=step_params("facetdata", "direction"),
    conda:
        "../envs/factor.yaml"
    log:
        "logs/facetdata/{direction}.log",
    benchmark:
        "benchmarks/facetdata/{direction}.tsv"
    threads: threads_of("facetdata")
    priority: job_priority("facetdata")
    resources:
        **job_resources("facetdata"),
    shell:
        "exec factor-step facetimagedata {params.p:q} {log:q} {threads} {resources.wsclean_mem_mb} {resources.scratch:q}"


rule facetimage:
    input:
        unpack(facetimage_inputs),
    output:
        image="results/{imageop}/{direction}/image.fits",
        residual="results/{imageop}/{direction}/residual.fits",
    params:
        p=step_params("facetimage", "imageop", "direction"),
    conda:
        "../envs/factor.yaml"
    log:
        "logs/{imageop}/{direction}.log",
    benchmark:
        "benchmarks/{imageop}/{direction}.tsv"
    threads: threads_of("facetimage")
    priority: job_priority("facetimage")
    resources:
        **job_resources("facetimage"),
    shell:
        "exec factor-step facetimage {params.p:q} {log:q} {threads} {resources.wsclean_mem_mb} {resources.scratch:q}"
