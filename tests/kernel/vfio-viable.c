// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vfio-viable: check a VFIO group the way QEMU does before it uses it.
 * Built static; runs inside the test guests.
 *
 * usage: vfio-viable GROUP [BDF...]
 *   1. open /dev/vfio/vfio (the container), check the API version and that
 *      the type1 IOMMU backend is available;
 *   2. open /dev/vfio/GROUP, VFIO_GROUP_GET_STATUS: the VIABLE flag must be set
 *      (opening the group file alone succeeds even for a non-viable group);
 *   3. VFIO_GROUP_SET_CONTAINER, then VFIO_SET_IOMMU (type1v2 if offered, as
 *      QEMU prefers, else type1): the kernel refuses a non-viable group here;
 *   4. for each BDF, VFIO_GROUP_GET_DEVICE_FD + VFIO_DEVICE_GET_INFO (what
 *      QEMU does for every -device vfio-pci).
 * Exit: 0 viable and usable, 1 not viable (flag clear or SET_CONTAINER
 * refused), 2 usage, 3 any other error. One line on stdout says what was seen.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/vfio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static int fail(int code, const char *what, int err)
{
	printf("vfio-viable: %s: %s\n", what, err ? strerror(err) : "failed");
	return code;
}

int main(int argc, char **argv)
{
	char path[64], what[160];
	char *end;
	long group;
	int container, gfd, iommu, i;
	struct vfio_group_status status = { .argsz = sizeof(status) };

	if (argc < 2) {
		fprintf(stderr, "usage: %s GROUP [BDF...]\n", argv[0]);
		return 2;
	}
	errno = 0;
	group = strtol(argv[1], &end, 10);
	if (errno || *end || end == argv[1] || group < 0) {
		fprintf(stderr, "%s: bad group number '%s'\n", argv[0], argv[1]);
		return 2;
	}

	container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	if (container < 0)
		return fail(3, "open /dev/vfio/vfio", errno);
	if (ioctl(container, VFIO_GET_API_VERSION) != VFIO_API_VERSION)
		return fail(3, "VFIO_GET_API_VERSION: unexpected version", 0);
	if (ioctl(container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) > 0)
		iommu = VFIO_TYPE1v2_IOMMU;
	else if (ioctl(container, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU) > 0)
		iommu = VFIO_TYPE1_IOMMU;
	else
		return fail(3, "no type1 IOMMU backend (vfio_iommu_type1 not loaded?)", 0);

	snprintf(path, sizeof(path), "/dev/vfio/%ld", group);
	gfd = open(path, O_RDWR | O_CLOEXEC);
	if (gfd < 0) {
		snprintf(what, sizeof(what), "open %s", path);
		return fail(3, what, errno);
	}
	if (ioctl(gfd, VFIO_GROUP_GET_STATUS, &status) < 0)
		return fail(3, "VFIO_GROUP_GET_STATUS", errno);
	if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		printf("vfio-viable: group %ld NOT viable (VFIO_GROUP_GET_STATUS flags 0x%x)\n",
		       group, status.flags);
		return 1;
	}
	if (ioctl(gfd, VFIO_GROUP_SET_CONTAINER, &container) < 0) {
		int err = errno;

		snprintf(what, sizeof(what), "group %ld VFIO_GROUP_SET_CONTAINER", group);
		return fail(err == EPERM ? 1 : 3, what, err);
	}
	if (ioctl(container, VFIO_SET_IOMMU, iommu) < 0)
		return fail(3, "VFIO_SET_IOMMU", errno);

	for (i = 2; i < argc; i++) {
		struct vfio_device_info info = { .argsz = sizeof(info) };
		int dfd = ioctl(gfd, VFIO_GROUP_GET_DEVICE_FD, argv[i]);

		if (dfd < 0) {
			snprintf(what, sizeof(what), "VFIO_GROUP_GET_DEVICE_FD %s", argv[i]);
			return fail(3, what, errno);
		}
		if (ioctl(dfd, VFIO_DEVICE_GET_INFO, &info) < 0) {
			snprintf(what, sizeof(what), "VFIO_DEVICE_GET_INFO %s", argv[i]);
			return fail(3, what, errno);
		}
		if (!(info.flags & VFIO_DEVICE_FLAGS_PCI)) {
			snprintf(what, sizeof(what), "%s is not a vfio PCI device", argv[i]);
			return fail(3, what, 0);
		}
		close(dfd);
	}
	printf("vfio-viable: group %ld viable, container set, %s IOMMU, %d device fd(s) opened\n",
	       group, iommu == VFIO_TYPE1v2_IOMMU ? "type1v2" : "type1", argc - 2);
	close(gfd);
	close(container);
	return 0;
}
