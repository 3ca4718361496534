// SPDX-License-Identifier: GPL-2.0
/*
 * variable_monitor: the record ring.
 *
 * One vmalloc ring, power-of-two sized.  Producers (the dump work, which is
 * non-reentrant, and nothing else) are serialized by prod_lock; the single
 * reader owns tail.  head and tail run free and are masked on access, so
 * [tail, head) is never overwritten: a record that does not fit is dropped,
 * counted, and reported in-band by a LOST record once space returns.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/vmalloc.h>
#include <linux/uaccess.h>
#include <linux/wait.h>
#include <linux/poll.h>
#include <linux/sched/signal.h>
#include <linux/timekeeping.h>
#include "vmon_priv.h"

static struct {
	u8 *buf;
	u64 size;		/* power of two */
	u64 head;		/* producer, release */
	u64 tail;		/* reader, release */
	u64 seq;		/* under prod_lock */
	u32 rec_off;		/* bytes of the tail record already read */
	bool need_lost;
	bool shutdown;
	struct vmon_file *reader;
} ring;

static DEFINE_MUTEX(prod_lock);
static DEFINE_MUTEX(reader_lock);
static DECLARE_WAIT_QUEUE_HEAD(ring_wait);

u64 vmon_now_ns(void)
{
	return ktime_get_boottime_ns();
}

int vmon_ring_init(unsigned long bytes)
{
	bytes = roundup_pow_of_two(clamp_t(unsigned long, bytes,
					   2 * VMON_MAX_RECORD, 1UL << 30));
	ring.buf = vzalloc(bytes);
	if (!ring.buf)
		return -ENOMEM;
	ring.size = bytes;
	return 0;
}

void vmon_ring_exit(void)
{
	vfree(ring.buf);
	ring.buf = NULL;
}

u64 vmon_ring_size(void)
{
	return ring.size;
}

u64 vmon_ring_used(void)
{
	return smp_load_acquire(&ring.head) - READ_ONCE(ring.tail);
}

static void ring_copy_in(u64 pos, const void *src, u32 len)
{
	u64 off = pos & (ring.size - 1);
	u32 first = min_t(u64, len, ring.size - off);

	memcpy(ring.buf + off, src, first);
	if (first < len)
		memcpy(ring.buf, src + first, len - first);
}

/* A header field of a committed record; a header may straddle the wrap. */
static void ring_peek(u64 pos, void *dst, u32 len)
{
	u64 off = pos & (ring.size - 1);
	u32 first = min_t(u64, len, ring.size - off);

	memcpy(dst, ring.buf + off, first);
	if (first < len)
		memcpy(dst + first, ring.buf, len - first);
}

static bool ring_fits(u32 len)
{
	u64 tail = smp_load_acquire(&ring.tail);

	return ring.head + len - tail <= ring.size;
}

static void ring_commit(void *rec, u32 len)
{
	ring_copy_in(ring.head, rec, len);
	smp_store_release(&ring.head, ring.head + len);
	atomic64_inc(&vmon_stats.records);
	atomic64_add(len, &vmon_stats.bytes);
}

static void ring_fill_hdr(struct vmon_rec_hdr *h, u16 type, u32 len,
			  u64 event_id, u64 time_ns)
{
	h->magic = VMON_RECORD_MAGIC;
	h->type = type;
	h->len = len;
	h->seq = ring.seq++;
	h->time_ns = time_ns ? time_ns : vmon_now_ns();
	h->event_id = event_id;
}

/*
 * Append one record; rec starts with a struct vmon_rec_hdr that this fills
 * in, with time_ns (CLOCK_BOOTTIME; 0 = now).  len must be a multiple of
 * 8.  Sleeps (prod_lock); never blocks on the reader.
 *
 * Loss accounting is exact: lost_records counts the records that were
 * produced and dropped, nothing else.  A LOST record is produced (takes a
 * seq number) only once it fits together with the record behind it, so a
 * LOST that could not be written is not counted as a loss of its own, and
 * a reader's seq gaps add up to lost_records.
 */
void vmon_ring_put_time(void *rec, u32 len, u16 type, u64 event_id,
			u64 time_ns)
{
	struct vmon_rec_lost lost;

	if (WARN_ON_ONCE(len % 8 || len > VMON_MAX_RECORD))
		return;
	mutex_lock(&prod_lock);
	if (ring.need_lost && ring_fits(sizeof(lost) + len)) {
		memset(&lost, 0, sizeof(lost));
		ring_fill_hdr(&lost.hdr, VMON_REC_LOST, sizeof(lost), 0, 0);
		lost.lost_records = atomic64_read(&vmon_stats.lost_records);
		lost.lost_bytes = atomic64_read(&vmon_stats.lost_bytes);
		ring_commit(&lost, sizeof(lost));
		ring.need_lost = false;
	}
	ring_fill_hdr(rec, type, len, event_id, time_ns);
	if (!ring.need_lost && ring_fits(len)) {
		ring_commit(rec, len);
	} else {
		atomic64_inc(&vmon_stats.lost_records);
		atomic64_add(len, &vmon_stats.lost_bytes);
		ring.need_lost = true;
	}
	mutex_unlock(&prod_lock);
	wake_up_interruptible(&ring_wait);
}

void vmon_ring_put(void *rec, u32 len, u16 type, u64 event_id)
{
	vmon_ring_put_time(rec, len, type, event_id, 0);
}

/*
 * The seq number of the next record a reader attached now gets: the one
 * at the tail, or the next one produced.  Only the reader moves the tail.
 */
u64 vmon_ring_next_seq(void)
{
	u64 seq;

	mutex_lock(&prod_lock);
	if (ring.head != ring.tail)
		ring_peek(ring.tail + offsetof(struct vmon_rec_hdr, seq), &seq,
			  sizeof(seq));
	else
		seq = ring.seq;
	mutex_unlock(&prod_lock);
	return seq;
}

int vmon_ring_claim_reader(struct vmon_file *f)
{
	int ret = 0;

	mutex_lock(&reader_lock);
	if (!ring.reader)
		WRITE_ONCE(ring.reader, f);
	else if (ring.reader != f)
		ret = -EBUSY;
	mutex_unlock(&reader_lock);
	return ret;
}

/* A reader that leaves in the middle of a record skips the rest of it. */
void vmon_ring_release_reader(struct vmon_file *f)
{
	mutex_lock(&reader_lock);
	if (ring.reader == f) {
		if (ring.rec_off) {
			u64 tail = ring.tail;
			u32 len = *(u32 *)(ring.buf + (tail & (ring.size - 1)) + 4);

			ring.rec_off = 0;
			smp_store_release(&ring.tail, tail + len);
		}
		WRITE_ONCE(ring.reader, NULL);
	}
	mutex_unlock(&reader_lock);
}

/* Is a reader attached now?  Hard-irq safe; a racing claim may be missed. */
bool vmon_ring_has_reader(void)
{
	return READ_ONCE(ring.reader) != NULL;
}

void vmon_ring_shutdown(void)
{
	WRITE_ONCE(ring.shutdown, true);
	wake_up_all(&ring_wait);
}

static bool ring_readable(struct vmon_file *f)
{
	return !f->hello_done || READ_ONCE(ring.shutdown) ||
	       smp_load_acquire(&ring.head) != ring.tail;
}

static int ring_copy_out(char __user *dst, u64 pos, u32 len)
{
	u64 off = pos & (ring.size - 1);
	u32 first = min_t(u64, len, ring.size - off);

	if (copy_to_user(dst, ring.buf + off, first))
		return -EFAULT;
	if (first < len && copy_to_user(dst + first, ring.buf, len - first))
		return -EFAULT;
	return 0;
}

/* Copy out whole records; a buffer smaller than the next record gets a
 * piece of it (so `cat` works), the rest comes with the next read(). */
static ssize_t ring_read_some(struct vmon_file *f, char __user *buf,
			      size_t count)
{
	size_t copied = 0;

	if (!f->hello_done) {
		u32 left = sizeof(f->hello) - f->hello_off;
		u32 n = min_t(size_t, left, count);

		if (copy_to_user(buf, (u8 *)&f->hello + f->hello_off, n))
			return -EFAULT;
		f->hello_off += n;
		copied += n;
		if (f->hello_off < sizeof(f->hello))
			return copied;
		f->hello_done = true;
	}
	while (copied < count) {
		u64 head = smp_load_acquire(&ring.head);
		u64 tail = ring.tail;
		u32 len, left, n;

		if (head == tail)
			break;
		len = *(u32 *)(ring.buf + (tail & (ring.size - 1)) + 4);
		left = len - ring.rec_off;
		if (copied && left > count - copied)
			break;
		n = min_t(size_t, left, count - copied);
		if (ring_copy_out(buf + copied, tail + ring.rec_off, n))
			return copied ? copied : -EFAULT;
		copied += n;
		ring.rec_off += n;
		if (ring.rec_off == len) {
			ring.rec_off = 0;
			smp_store_release(&ring.tail, tail + len);
		}
	}
	return copied;
}

ssize_t vmon_ring_read(struct vmon_file *f, char __user *buf, size_t count,
		       bool nonblock)
{
	ssize_t ret;

	if (!count)
		return 0;
	for (;;) {
		if (mutex_lock_interruptible(&f->read_lock))
			return -ERESTARTSYS;
		ret = ring_read_some(f, buf, count);
		mutex_unlock(&f->read_lock);
		if (ret)
			return ret;
		if (READ_ONCE(ring.shutdown))
			return 0;
		if (nonblock)
			return -EAGAIN;
		if (wait_event_interruptible(ring_wait, ring_readable(f)))
			return -ERESTARTSYS;
	}
}

__poll_t vmon_ring_poll(struct vmon_file *f, struct file *file,
			struct poll_table_struct *wait)
{
	poll_wait(file, &ring_wait, wait);
	if (READ_ONCE(ring.shutdown))
		return EPOLLHUP;
	return ring_readable(f) ? EPOLLIN | EPOLLRDNORM : 0;
}
