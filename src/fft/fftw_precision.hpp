// FFTW's complex plans in the two precisions the library uses, under one
// name, so that code written once (line_dft.hpp, line_correlation.hpp,
// correlate_plan.cpp) runs in float32 (fftwf_*) and float64 (fftw_*).
#pragma once

#include <fftw3.h>

namespace ptychopatch::impl::cpu {

template <class Real>
struct Fftw;

template <>
struct Fftw<float> {
  using Plan = fftwf_plan;
  using Complex = fftwf_complex;
  using Dim = fftwf_iodim64;
  static Plan plan_dft(int rank, const Dim* dims, int howmany_rank, const Dim* howmany, Complex* in,
                       Complex* out, int sign, unsigned flags) {
    return fftwf_plan_guru64_dft(rank, dims, howmany_rank, howmany, in, out, sign, flags);
  }
  static Plan plan_r2c(int rank, const Dim* dims, float* in, Complex* out, unsigned flags) {
    return fftwf_plan_guru64_dft_r2c(rank, dims, 0, nullptr, in, out, flags);
  }
  static Plan plan_c2r(int rank, const Dim* dims, Complex* in, float* out, unsigned flags) {
    return fftwf_plan_guru64_dft_c2r(rank, dims, 0, nullptr, in, out, flags);
  }
  static void execute(Plan plan) { fftwf_execute(plan); }
  static void execute_dft(Plan plan, Complex* in, Complex* out) {
    fftwf_execute_dft(plan, in, out);
  }
  static void execute_r2c(Plan plan, float* in, Complex* out) {
    fftwf_execute_dft_r2c(plan, in, out);
  }
  static void execute_c2r(Plan plan, Complex* in, float* out) {
    fftwf_execute_dft_c2r(plan, in, out);
  }
  static void destroy(Plan plan) { fftwf_destroy_plan(plan); }
  static void set_timelimit(double seconds) { fftwf_set_timelimit(seconds); }
  static int alignment_of(float* p) { return fftwf_alignment_of(p); }
};

template <>
struct Fftw<double> {
  using Plan = fftw_plan;
  using Complex = fftw_complex;
  using Dim = fftw_iodim64;
  static Plan plan_dft(int rank, const Dim* dims, int howmany_rank, const Dim* howmany, Complex* in,
                       Complex* out, int sign, unsigned flags) {
    return fftw_plan_guru64_dft(rank, dims, howmany_rank, howmany, in, out, sign, flags);
  }
  static Plan plan_r2c(int rank, const Dim* dims, double* in, Complex* out, unsigned flags) {
    return fftw_plan_guru64_dft_r2c(rank, dims, 0, nullptr, in, out, flags);
  }
  static Plan plan_c2r(int rank, const Dim* dims, Complex* in, double* out, unsigned flags) {
    return fftw_plan_guru64_dft_c2r(rank, dims, 0, nullptr, in, out, flags);
  }
  static void execute(Plan plan) { fftw_execute(plan); }
  static void execute_dft(Plan plan, Complex* in, Complex* out) { fftw_execute_dft(plan, in, out); }
  static void execute_r2c(Plan plan, double* in, Complex* out) {
    fftw_execute_dft_r2c(plan, in, out);
  }
  static void execute_c2r(Plan plan, Complex* in, double* out) {
    fftw_execute_dft_c2r(plan, in, out);
  }
  static void destroy(Plan plan) { fftw_destroy_plan(plan); }
  static void set_timelimit(double seconds) { fftw_set_timelimit(seconds); }
  static int alignment_of(double* p) { return fftw_alignment_of(p); }
};

}  // namespace ptychopatch::impl::cpu
