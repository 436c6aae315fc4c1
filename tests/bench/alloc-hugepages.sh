#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The hugepage loop of the GPU passthrough tutorials (their alloc_hugepages.sh), in sh, for the
# benchmark to compare against: write the page count, read it back, and while it falls short
# compact memory and write it again, up to 1000 rounds; on failure give back every page (the
# tutorials write 0). PAGES is what the tutorials compute from the VM's memory.
# usage: alloc-hugepages.sh PAGES
HUGEPAGES=$1
echo "Allocating hugepages..."
echo "$HUGEPAGES" > /proc/sys/vm/nr_hugepages
ALLOC_PAGES=$(cat /proc/sys/vm/nr_hugepages)
TRIES=0
while [ "$ALLOC_PAGES" -ne "$HUGEPAGES" ] && [ "$TRIES" -lt 1000 ]; do
	echo 1 > /proc/sys/vm/compact_memory
	echo "$HUGEPAGES" > /proc/sys/vm/nr_hugepages
	ALLOC_PAGES=$(cat /proc/sys/vm/nr_hugepages)
	echo "Succesfully allocated $ALLOC_PAGES / $HUGEPAGES"
	TRIES=$((TRIES + 1))
done
if [ "$ALLOC_PAGES" -ne "$HUGEPAGES" ]; then
	echo "Not able to allocate all hugepages. Reverting..."
	echo 0 > /proc/sys/vm/nr_hugepages
	exit 1
fi
