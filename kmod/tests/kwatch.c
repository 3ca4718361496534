// SPDX-License-Identifier: GPL-2.0
/*
 * kwatch: try one kernel watch, print the errno.
 *
 *   kwatch SYM THRESHOLD
 *
 * 8 bytes at SYM, unsigned, breaching above THRESHOLD, every 10 ms; prints
 * "kwatch SYM err=E", then keeps the watch 300 ms.
 */
#include <sys/ioctl.h>
#include "vt_common.h"

int main(int argc, char **argv)
{
	struct vmon_watch_req req;
	int fd, err = 0;

	if (argc != 3)
		VT_FAIL("usage: kwatch SYM THRESHOLD");
	fd = vmon_device_fd();
	if (fd < 0)
		VT_FAIL("open: %s", vmon_strerror(fd));
	memset(&req, 0, sizeof(req));
	req.size = sizeof(req);
	req.flags = VMON_WATCH_KERNEL | VMON_WATCH_UNSIGNED | VMON_WATCH_GREATER;
	req.length = 8;
	req.threshold = strtoll(argv[2], NULL, 0);
	req.interval_ns = 10 * 1000 * 1000;
	strcpy(req.name, "kwatch");
	snprintf(req.ksym, sizeof(req.ksym), "%s", argv[1]);
	if (ioctl(fd, VMON_IOC_WATCH, &req))
		err = errno;
	printf("kwatch %s err=%d\n", argv[1], err);
	fflush(stdout);
	vt_sleep_ms(300);
	return 0;
}
