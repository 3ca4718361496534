/* A test program for vmon-analyze: `hidden` is a static function that a
 * stripped binary keeps no symbol for, placed right after the exported
 * `visible`; an address inside `hidden` must not be named `visible`. */
volatile int sink;

__attribute__((noinline)) void visible(void)
{
	sink += 1;
}

__attribute__((noinline)) static void hidden(void)
{
	for (int i = 0; i < 64; i++)
		sink += i * sink;
}

int main(void)
{
	visible();
	hidden();
	return 0;
}
