// C++ names for the demangling test.
namespace shapes {
struct Circle {
	double r;
	__attribute__((noipa)) double area(int scale) const { return 3.14159 * r * r * scale; }
};
__attribute__((noipa)) double total(const Circle &c, int n) { return c.area(n) + n; }
} // namespace shapes

int main(int argc, char **)
{
	shapes::Circle c{double(argc)};
	return int(shapes::total(c, argc));
}
