from mlreg.cli.entry import main

main()
