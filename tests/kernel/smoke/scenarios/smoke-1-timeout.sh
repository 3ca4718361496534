# Self-test: a scenario that hangs, with a stray child, must be reported TIMEOUT and
# its whole process group killed (smoke-2-basic checks that nothing is left).
# vmon-timeout: 5
# vmon-expect: TIMEOUT
sleep 1001 &
sleep 1002
