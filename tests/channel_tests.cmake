# Sync-primitive and channel tests (C programs), included from
# tests/CMakeLists.txt.   shmkit_c_test(NAME SOURCE LABELS TIMEOUT)
# Labels: unit (fast), multiproc (forks), stress (heavy loops scaled by
# SHMKIT_TEST_SCALE), threaded (both ends as threads: run these under TSan).

shmkit_c_test(test_sync_mutex    test_sync_mutex.c    "unit;multiproc"     120)
shmkit_c_test(test_sync_event    test_sync_event.c    "unit;multiproc"     120)
shmkit_c_test(test_sync_seqlock  test_sync_seqlock.c  "unit;multiproc"     120)
shmkit_c_test(test_chan_basic    test_chan_basic.c    "unit;multiproc"     120)
shmkit_c_test(test_chan_stress   test_chan_stress.c   "stress;multiproc"   300)
shmkit_c_test(test_chan_threads  test_chan_threads.c  "threaded;stress"    300)
shmkit_c_test(test_chan_crash    test_chan_crash.c    "stress;multiproc"   300)
shmkit_c_test(test_chan_hostile  test_chan_hostile.c  "unit"               300)
shmkit_c_test(test_chan_killwindow test_chan_killwindow.c "unit;multiproc"   120)
shmkit_c_test(test_chan_regress  test_chan_regress.c  "unit;multiproc"     120)
shmkit_c_test(test_chan_review   test_chan_review.c   "unit;multiproc"     120)
shmkit_c_test(test_chan_batch    test_chan_batch.c    "unit;multiproc"     120)
shmkit_c_test(test_chan_hold     test_chan_hold.c     "unit"               60)
shmkit_c_test(test_chan_ack      test_chan_ack.c      "unit;multiproc"     60)
shmkit_c_test(test_chan_adaptive test_chan_adaptive.c "unit;threaded"    60)
shmkit_c_test(test_chan_rewind   test_chan_rewind.c   "unit"               120)
shmkit_c_test(test_chan_spoof    test_chan_spoof.c    "unit"               60)
