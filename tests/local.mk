# Script test runners (rule tests, error goldens, CLI behaviour).
