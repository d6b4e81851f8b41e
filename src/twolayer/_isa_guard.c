/*
 * Module entry of an instruction-set build of the kernels (_cython_kernels_avx2,
 * _cython_kernels_avx512), compiled with baseline x86-64 flags.
 *
 * Why: the Cython module itself is compiled with -mavx2/-mavx512f, and the
 * compiler may use those instructions anywhere in it, its init included, so
 * importing it on an older CPU dies with SIGILL. The build renames the real
 * PyInit (-DPyInit_<module>=tl_kernels_real_init on that file only); this one
 * checks the CPU first and raises ImportError when it lacks the features.
 *
 * TWOLAYER_CPU_FEATURES=baseline|avx2 makes it refuse the wider builds as if
 * the CPU lacked them (python/twolayer/_cpu.py honours the same variable), so
 * the refusal can be tested on any machine.
 *
 * Set by CMake: TL_MODULE (the module's name), TL_LEVEL (1 = AVX2+FMA,
 * 2 = AVX-512 F/DQ/VL as well).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdlib.h>
#include <string.h>

#define TL_STR_(x) #x
#define TL_STR(x) TL_STR_(x)
#define TL_CAT_(a, b) a##b
#define TL_CAT(a, b) TL_CAT_(a, b)

PyObject* tl_kernels_real_init(void);

static const char* const tl_level_names[] = {"baseline", "avx2", "avx512"};

/* Highest level allowed by TWOLAYER_CPU_FEATURES (2 when unset or unknown). */
static int tl_forced_level(void) {
    const char* forced = getenv("TWOLAYER_CPU_FEATURES");
    if (forced == NULL) return 2;
    for (int level = 0; level < 3; level++) {
        if (strcmp(forced, tl_level_names[level]) == 0) return level;
    }
    return 2;
}

/* NULL when this CPU runs the build, otherwise the features it lacks. */
static const char* tl_missing(int level) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (level >= 1 && !(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")))
        return "AVX2 and FMA";
    if (level >= 2 && !(__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq")
                        && __builtin_cpu_supports("avx512vl")))
        return "AVX-512 (F, DQ, VL)";
    return NULL;
#else
    return level > 0 ? "x86-64 SIMD" : NULL;
#endif
}

PyMODINIT_FUNC TL_CAT(PyInit_, TL_MODULE)(void) {
    const char* missing = tl_missing(TL_LEVEL);
    if (missing != NULL) {
        PyErr_Format(PyExc_ImportError,
                     "twolayer.%s needs a CPU with %s, which this one lacks; "
                     "twolayer loads a narrower build of the kernels",
                     TL_STR(TL_MODULE), missing);
        return NULL;
    }
    if (tl_forced_level() < TL_LEVEL) {
        PyErr_Format(PyExc_ImportError,
                     "twolayer.%s is disabled by TWOLAYER_CPU_FEATURES=%s",
                     TL_STR(TL_MODULE), getenv("TWOLAYER_CPU_FEATURES"));
        return NULL;
    }
    return tl_kernels_real_init();
}
