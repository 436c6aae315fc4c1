#!/bin/bash
# Back to on-demand
cpupower frequency-set -g ondemand
