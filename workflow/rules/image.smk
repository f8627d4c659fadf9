def facetimage_inputs(wc):
    p = STEPS["facetimage"][wc.direction]
    entries = ([p["own"]] if p["own"] else []) + p["candidates"]
    return {
        "residual": flat_residual(p["residual"]),
        "selfcal": [e[k] for e in entries for k in ("selfcal_json", "solutions", "model")],
        "skymodels": [m for m in p["di_facet_models"] if m],
    }


rule facetimage:
    input:
        unpack(facetimage_inputs),
    output:
        image="results/facetimage/{direction}/image.fits",
        residual="results/facetimage/{direction}/residual.fits",
    params:
        p=step_params("facetimage", "direction"),
    log:
        "logs/facetimage/{direction}.log",
    benchmark:
        "benchmarks/facetimage/{direction}.tsv"
    threads: workflow.cores
    resources:
        mem_mb=4000,
    shell:
        "factor-step facetimage {params.p:q} {log:q} {threads}"
