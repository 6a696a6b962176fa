/*
 * compiler.h: the one compiler extension libsg uses, behind a macro.
 */
#ifndef SG_COMPILER_H
#define SG_COMPILER_H

/*
 * Inlining of the few small readers and writers on the codec's hot path,
 * which the compiler otherwise leaves as calls once they have several
 * callers. Plain `static inline` elsewhere.
 */
#if defined(__GNUC__) || defined(__clang__)
#define SG__HOT_INLINE static inline __attribute__((always_inline))
#else
#define SG__HOT_INLINE static inline
#endif

#endif /* SG_COMPILER_H */
