# Self-test: a quick scenario with a distinctive limit; smoke-2-basic checks that the
# watchdog's "sleep 277" did not outlive it.
# vmon-timeout: 277
echo quick
