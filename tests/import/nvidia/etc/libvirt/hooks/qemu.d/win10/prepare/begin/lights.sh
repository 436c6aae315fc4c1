#!/bin/bash
set -x
# The case lighting follows the guest while Windows has the GPU (OpenRGB runs in the guest)
echo "Switching the RGB profile"
systemctl restart my-rgb.service
sleep 1
