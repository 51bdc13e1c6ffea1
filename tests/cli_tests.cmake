# CLI-level and integration tests (bash scripts, helpers in tests/cli_lib.sh).
# Included from tests/CMakeLists.txt.

# A tiny client of the public API the scripts drive (write/read/hold/attach);
# its path is $SHMKIT_TESTS_DIR/cli_helper.  Not a test by itself.
add_executable(cli_helper cli_helper.c)
target_link_libraries(cli_helper PRIVATE shmkit_static Threads::Threads)

shmkit_sh_test(cli_help     cli_help.sh     "cli"                    30)
shmkit_sh_test(cli_segments cli_segments.sh "cli;multiproc"          60)
shmkit_sh_test(cli_foreign  cli_foreign.sh  "cli;multiproc"          60)
shmkit_sh_test(cli_stale_gc cli_stale_gc.sh "cli;multiproc"          60)
shmkit_sh_test(cli_perm     cli_perm.sh     "cli;multiproc"          60)
shmkit_sh_test(cli_install  cli_install.sh  "cli;install"           180)
shmkit_sh_test(cli_demo     cli_demo.sh     "cli;multiproc"          60)
