# Channel CLI tests: pub, sub, top, create --kind, info (bash scripts,
# helpers in tests/cli_lib.sh).  Included from tests/CMakeLists.txt.
#   shmkit_sh_test(NAME SCRIPT LABELS TIMEOUT)
# cli_pubsub moves 256 MiB * SHMKIT_TEST_SCALE through a queue and a
# reliable bus (about 15 s on a busy 2-CPU machine at scale 1).

shmkit_sh_test(cli_pubsub         cli_pubsub.sh         "cli;multiproc" 300)
shmkit_sh_test(cli_pubsub_exit    cli_pubsub_exit.sh    "cli;multiproc" 120)
shmkit_sh_test(cli_pubsub_create  cli_pubsub_create.sh  "cli;multiproc" 120)
shmkit_sh_test(cli_pubsub_lost    cli_pubsub_lost.sh    "cli;multiproc" 120)
