rule fieldmosaic:
    input:
        images=STEPS["mosaic"]["images"],
        beam_ms=STEPS["mosaic"]["beam_ms"],
    output:
        mosaic="results/fieldmosaic/field/mosaic.fits",
        pb="results/fieldmosaic/field/mosaic.pb.fits",
        pbcor="results/fieldmosaic/field/mosaic.pbcor.fits",
        pbcut="results/fieldmosaic/field/mosaic.pbcut.fits",
    params:
        p=json.dumps(STEPS["mosaic"], sort_keys=True),
    conda:
        "../envs/factor.yaml"
    log:
        "logs/fieldmosaic/field.log",
    benchmark:
        "benchmarks/fieldmosaic/field.tsv"
    threads: threads_of("fieldmosaic")
    resources:
        **job_resources("fieldmosaic"),
    shell:
        "exec factor-step mosaic {params.p:q} {log:q} {threads} {resources.wsclean_mem_mb} {resources.scratch:q}"


rule products:
    input:
        mosaic=rules.fieldmosaic.output if config["make_mosaic"] else [],
        images=list(STEPS["products"]["facet_images"].values()),
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
