from aiq_pipeline.cli import main

if __name__ == "__main__":  # `python -m aiq_pipeline.cli`; importing this module runs nothing
    main()
