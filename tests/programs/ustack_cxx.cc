// SPDX-License-Identifier: GPL-2.0
/*
 * ustack_cxx: C++ -O2 with libstdc++ (dynamically linked, no frame
 * pointers): a template thread pool whose std::thread workers wait on a
 * std::condition_variable for jobs that never come, and a main thread
 * asleep in std::this_thread::sleep_for.  The predicate wait, the
 * unique_lock and the std::thread invoker are templates inlined into
 * their callers; ThreadPool<Job>::worker_loop is kept out of line so the
 * chain has a distinctive frame:
 *
 *   cxx_workerN  std::thread's _State_impl<...>::_M_run -> ThreadPool<Job>::worker_loop
 *                -> std::condition_variable::wait -> pthread_cond_wait
 *   ustack_cxx   main -> cxx_main_wait -> nanosleep
 */
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

extern "C" {
int ustack_ready;
}

namespace {
long syscall_of(int tid)
{
	char path[64], buf[256];
	long nr = -2;
	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", tid);
	if (FILE *f = fopen(path, "r")) {
		if (fgets(buf, sizeof(buf), f) && buf[0] >= '0' && buf[0] <= '9')
			nr = strtol(buf, nullptr, 10);
		fclose(f);
	}
	return nr;
}
} // namespace

struct Job {
	std::function<void()> fn;
};

template <typename T> class ThreadPool {
public:
	explicit ThreadPool(unsigned n) : tids_(n)
	{
		for (unsigned i = 0; i < n; i++)
			workers_.emplace_back(&ThreadPool::worker_loop, this, i);
	}
	// Never returns: nobody sets stop_ (the scenario kills the process).
	~ThreadPool()
	{
		for (auto &w : workers_)
			w.join();
	}
	const std::vector<std::atomic<int>> &tids() const { return tids_; }

	__attribute__((noinline)) void worker_loop(unsigned idx)
	{
		char name[16];
		snprintf(name, sizeof(name), "cxx_worker%u", idx);
		prctl(PR_SET_NAME, name, 0, 0, 0);
		tids_[idx] = (int)syscall(SYS_gettid);
		for (;;) {
			std::unique_lock<std::mutex> lk(m_);
			cv_.wait(lk, [this] { return stop_ || !q_.empty(); });
			if (stop_)
				return;
			T job = std::move(q_.front());
			q_.pop_front();
			lk.unlock();
			job.fn();
		}
	}

private:
	std::mutex m_;
	std::condition_variable cv_;
	std::deque<T> q_;
	bool stop_ = false;
	std::vector<std::atomic<int>> tids_;
	std::vector<std::thread> workers_;
};

__attribute__((noinline)) void cxx_main_wait()
{
	for (;;)
		std::this_thread::sleep_for(std::chrono::hours(1000));
}

int main()
{
	ThreadPool<Job> pool(3);
	for (int i = 0; i < 6000; i++) {
		bool ok = true;
		for (auto &t : pool.tids())
			ok = ok && t.load() && syscall_of(t.load()) == SYS_futex;
		if (ok)
			break;
		std::this_thread::sleep_for(std::chrono::milliseconds(20));
	}
	std::atomic_ref<int>(ustack_ready).store(1);
	printf("ready pid=%d threads=4\n", getpid());
	for (unsigned i = 0; i < pool.tids().size(); i++)
		printf("thread cxx_worker%u %d\n", i, pool.tids()[i].load());
	fflush(stdout);
	cxx_main_wait();
}
