from aiq_pipeline.cli import main

main()
