/*
 * main.c: sgctl's entry point; everything else is in sgctl_main().
 */
#include <stdio.h>

#include "sgctl.h"

int main(int argc, char **argv)
{
    return sgctl_main(argc, argv, stdout, stderr);
}
