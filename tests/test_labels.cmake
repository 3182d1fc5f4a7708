# The labels of the GoogleTest programs' tests: the backend they test (cpu, or
# gpu;emulated) and fast or slow (over about 2 s on a 2-core machine: ctest's
# Testing/Temporary/CTestCostData.txt). ctest includes this file after each
# directory's discovered test lists (tests/CMakeLists.txt,
# tests/emulation/CMakeLists.txt); gtest_discover_tests itself passes only a
# single-valued LABELS through. scripts/check.sh runs the fast tests.
set(slow_tests
  AlignVerify.AFlatCentreKeepsItsCrops
  AlignVerify.LargeNoisyFramesReachTheTruth
  AlignVerify.ThePolishSeeksTheDetail
  FaultInjection.AlignmentImagesInSeveralBands
  FaultInjection.AlignmentPolishOnTheSamePlan
  FaultInjection.Grouping
  Gpu.ObjectsBeyondThirtyTwoBitIndexingMatchCpu
  Gpu.PtychoPinnSizedBatchMatchesCpu
  GpuAlign.MaxShiftBoundsThePeakSearch
  GpuAlign.TinyBudgetsForceManyBatches
  GpuAlign.VerifiedCropsMatchTheCpu
  GpuReassembly.BitwiseEqualToCpuForEveryPathAndType
  LineDft.Float64MatchesTheDirectTransformInLongDouble
  LineDft.MatchesTheDirectTransformInDouble
  LumaPolish.LargeFramesThroughWindows
  LumaPolish.QuickVarianceMatchesItsSpread
  LumaPolish.VarianceMatchesTheSpreadOverNoiseDraws
  ThreadStress.EightThreadsGetTheResultsOfOne)

function(label_tests names backend)
  foreach(name IN LISTS names)
    list(FIND slow_tests "${name}" at)
    if(at GREATER -1)
      set_tests_properties("${name}" PROPERTIES LABELS "${backend};slow")
    else()
      set_tests_properties("${name}" PROPERTIES LABELS "${backend};fast")
    endif()
  endforeach()
endfunction()

label_tests("${ptychopatch_tests_TESTS};${ptychopatch_progress_tests_TESTS};\
${ptychopatch_cpp_wrapper_tests_TESTS};${ptychopatch_internal_tests_TESTS};\
${ptychopatch_stress_tests_TESTS};${ptychopatch_fault_injection_tests_TESTS}" cpu)
label_tests("${ptychopatch_gpu_tests_emulated_TESTS};${ptychopatch_emulated_device_tests_TESTS};\
${ptychopatch_align_plane_kernel_tests_TESTS}" "gpu;emulated")
# The emulated GPU suite again in shuffled order: a second run of every test.
foreach(name IN LISTS ptychopatch_gpu_tests_shuffled_TESTS)
  set_tests_properties("${name}" PROPERTIES LABELS "gpu;emulated;slow")
endforeach()
