# Segment-layer tests (C programs), included from tests/CMakeLists.txt.
#   shmkit_c_test(NAME SOURCE LABELS TIMEOUT)
# Labels: unit (fast, always run), multiproc (forks or execs), stress (heavy
# loops, scaled by SHMKIT_TEST_SCALE), root (skips with 77 unless root).

shmkit_c_test(test_seg_basic          test_seg_basic.c          "unit"                 60)
shmkit_c_test(test_seg_xproc          test_seg_xproc.c          "unit;multiproc"       60)
shmkit_c_test(test_seg_readonly       test_seg_readonly.c       "unit;multiproc"       60)
shmkit_c_test(test_seg_corrupt        test_seg_corrupt.c        "unit;multiproc"       60)
shmkit_c_test(test_seg_perm           test_seg_perm.c           "unit;multiproc;root"  60)
shmkit_c_test(test_seg_owner          test_seg_owner.c          "unit;multiproc;root"  60)
shmkit_c_test(test_seg_fakelive       test_seg_fakelive.c       "unit;multiproc"       60)
shmkit_c_test(test_seg_claiming       test_seg_claiming.c       "unit;multiproc"       60)
shmkit_c_test(test_seg_create_gate    test_seg_create_gate.c    "unit"                 60)
shmkit_c_test(test_seg_enospc         test_seg_enospc.c         "unit"                 60)
shmkit_c_test(test_seg_mlock          test_seg_mlock.c          "unit;multiproc"       60)
shmkit_c_test(test_seg_stale          test_seg_stale.c          "unit;multiproc"       60)
shmkit_c_test(test_seg_gc_race        test_seg_gc_race.c        "stress;multiproc"    300)
shmkit_c_test(test_seg_sysv_pidreuse  test_seg_sysv_pidreuse.c  "unit;multiproc;root"  60)
shmkit_c_test(test_seg_memfd_pass     test_seg_memfd_pass.c     "unit;multiproc"       60)
shmkit_c_test(test_seg_leak           test_seg_leak.c           "stress"              300)
shmkit_c_test(test_seg_errors         test_seg_errors.c         "unit"                 60)
shmkit_c_test(test_seg_sysv_limits    test_seg_sysv_limits.c    "unit"                 60)
shmkit_c_test(test_seg_numa           test_seg_numa.c           "unit"                 60)
