module ustack_go

go 1.19
