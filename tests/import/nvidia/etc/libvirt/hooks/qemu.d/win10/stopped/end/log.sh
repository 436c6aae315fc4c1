#!/bin/bash
# Leave a line in the journal when the VM is down
source "/etc/libvirt/hooks/kvm.conf"
logger -t vfio "$VM_NAME stopped; $VIRSH_GPU_VIDEO goes back to the host"
