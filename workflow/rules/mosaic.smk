rule fieldmosaic:
    input:
        images=lambda wc: STEPS["mosaic"][wc.mosaicop]["images"],
        beam_ms=lambda wc: STEPS["mosaic"][wc.mosaicop]["beam_ms"],
    output:
        mosaic="results/{mosaicop}/field/mosaic.fits",
        pb="results/{mosaicop}/field/mosaic.pb.fits",
        pbcor="results/{mosaicop}/field/mosaic.pbcor.fits",
        pbcut="results/{mosaicop}/field/mosaic.pbcut.fits",
    params:
        p=step_params("mosaic", "mosaicop"),
    conda:
        "../envs/factor.yaml"
    log:
        "logs/{mosaicop}/field.log",
    benchmark:
        "benchmarks/{mosaicop}/field.tsv"
    threads: threads_of("fieldmosaic")
    resources:
        **job_resources("fieldmosaic"),
    shell:
        "exec factor-step mosaic {params.p:q} {log:q} {threads} {resources.wsclean_mem_mb} {resources.scratch:q}"


rule products:
    input:
        mosaics=[f"{m['out_dir']}/mosaic.fits" for m in STEPS["mosaic"].values()] if config["make_mosaic"] else [],
        images=[i for s in STEPS["products"]["image_sets"] for i in s["facet_images"].values()],
        solutions=list(STEPS["products"]["solutions"].values()),
        residual=STEPS["products"]["residual_ms"],
    output:
        "results/products.json",
    params:
        p=json.dumps(STEPS["products"], sort_keys=True),
    conda:
        "../envs/factor.yaml"
    log:
        "logs/products.log",
    benchmark:
        "benchmarks/products.tsv"
    localrule: True
    threads: 1
    shell:
        "exec factor-step products {params.p:q} {log:q} {threads} 0"
