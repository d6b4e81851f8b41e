/* Included by _tile.h with TL_T and TL_NAME (as for _tile_impl.h): gathering
 * the samples of a training tile when each sample's values are contiguous
 * (row stride 1: X.T of a C-ordered array, as users hold X) and the samples
 * are not (_gather_tile in _cython_kernels.pyx). Value by value, that took
 * one load and one store per value (60% of the block loop outside the tile
 * steps; GCC does not vectorise the transposition itself). Here blocks of
 * K samples x K values (K = TL_GATHER_K, 8 or fewer) are loaded as K vectors,
 * transposed by shuffles and stored as K vectors. Plain copies: no rounding involved. */

typedef TL_T TL_NAME(tl_v8) __attribute__((vector_size(8 * sizeof(TL_T))));
typedef TL_T TL_NAME(tl_v4) __attribute__((vector_size(4 * sizeof(TL_T))));
typedef TL_T TL_NAME(tl_v2) __attribute__((vector_size(2 * sizeof(TL_T))));

/* Samples (and values) per block: as many as one register of the build holds,
 * at most 8. Wider generic vectors than the registers went through the stack
 * value by value (gcc 12, AVX2 build, 8 doubles). */
#define TL_GATHER_K (TL_VECTOR_BYTES / (ptrdiff_t)sizeof(TL_T) < 8 \
                     ? TL_VECTOR_BYTES / (ptrdiff_t)sizeof(TL_T) : 8)

/* out[j * width + k] = column[k][r + j] for j, k < 8: three rounds of pairwise
 * shuffles (2-source permutes), then the 8 rows stored in the order the
 * rounds leave them (values 0, 4, 2, 6, 1, 5, 3, 7). */
static inline void TL_NAME(tl_transpose8)(
    const TL_T* const* column, ptrdiff_t r, ptrdiff_t width, TL_T* restrict out)
{
    typedef TL_NAME(tl_v8) V;
    static const int value_of[8] = {0, 4, 2, 6, 1, 5, 3, 7};
    V v[8], a[8], b[8];
    for (int k = 0; k < 8; k++) __builtin_memcpy(&v[k], column[k] + r, sizeof(V));
    for (int i = 0; i < 8; i += 2) {
        a[i] = __builtin_shufflevector(v[i], v[i + 1], 0, 8, 2, 10, 4, 12, 6, 14);
        a[i + 1] = __builtin_shufflevector(v[i], v[i + 1], 1, 9, 3, 11, 5, 13, 7, 15);
    }
    for (int h = 0; h < 8; h += 4)
        for (int o = 0; o < 2; o++) {
            b[h + 2 * o] = __builtin_shufflevector(a[h + o], a[h + 2 + o],
                                                   0, 1, 8, 9, 4, 5, 12, 13);
            b[h + 2 * o + 1] = __builtin_shufflevector(a[h + o], a[h + 2 + o],
                                                       2, 3, 10, 11, 6, 7, 14, 15);
        }
    for (int o = 0; o < 4; o++) {
        V lo = __builtin_shufflevector(b[o], b[4 + o], 0, 1, 2, 3, 8, 9, 10, 11);
        V hi = __builtin_shufflevector(b[o], b[4 + o], 4, 5, 6, 7, 12, 13, 14, 15);
        __builtin_memcpy(out + value_of[2 * o] * width, &lo, sizeof(V));
        __builtin_memcpy(out + value_of[2 * o + 1] * width, &hi, sizeof(V));
    }
}

/* The same for 4 x 4 (two rounds: values 0, 2 from the first pair, 1, 3 from the second). */
static inline void TL_NAME(tl_transpose4)(
    const TL_T* const* column, ptrdiff_t r, ptrdiff_t width, TL_T* restrict out)
{
    typedef TL_NAME(tl_v4) V;
    V v[4], a[4], c;
    for (int k = 0; k < 4; k++) __builtin_memcpy(&v[k], column[k] + r, sizeof(V));
    for (int i = 0; i < 4; i += 2) {
        a[i] = __builtin_shufflevector(v[i], v[i + 1], 0, 4, 2, 6);
        a[i + 1] = __builtin_shufflevector(v[i], v[i + 1], 1, 5, 3, 7);
    }
    for (int o = 0; o < 2; o++) {
        c = __builtin_shufflevector(a[o], a[2 + o], 0, 1, 4, 5);
        __builtin_memcpy(out + o * width, &c, sizeof(V));
        c = __builtin_shufflevector(a[o], a[2 + o], 2, 3, 6, 7);
        __builtin_memcpy(out + (o + 2) * width, &c, sizeof(V));
    }
}

/* ... and 2 x 2 (one round). */
static inline void TL_NAME(tl_transpose2)(
    const TL_T* const* column, ptrdiff_t r, ptrdiff_t width, TL_T* restrict out)
{
    typedef TL_NAME(tl_v2) V;
    V v0, v1, c;
    __builtin_memcpy(&v0, column[0] + r, sizeof(V));
    __builtin_memcpy(&v1, column[1] + r, sizeof(V));
    c = __builtin_shufflevector(v0, v1, 0, 2);
    __builtin_memcpy(out, &c, sizeof(V));
    c = __builtin_shufflevector(v0, v1, 1, 3);
    __builtin_memcpy(out + width, &c, sizeof(V));
}

/* out[r * width + s] = column s's value r, for r < rows and s < count; column s
 * starts at base + c * col_stride with c = idx[s], or start + s when idx is
 * NULL. Samples in blocks of K (the rest value by value); with rows >= K, the
 * values in blocks of K too, the last block overlapping the one before when
 * rows is not a multiple of K (it writes the same values again). */
static inline void TL_NAME(tl_gather_columns)(
    const TL_T* restrict base, ptrdiff_t rows, ptrdiff_t col_stride, const int64_t* idx,
    ptrdiff_t start, ptrdiff_t count, ptrdiff_t width, TL_T* restrict out)
{
    enum { K = TL_GATHER_K };
    ptrdiff_t s = 0;
    for (; rows >= K && s + K <= count; s += K) {
        const TL_T* column[K];
        for (int k = 0; k < K; k++)
            column[k] = base + (idx ? idx[s + k] : start + s + k) * col_stride;
        for (ptrdiff_t r = 0; r < rows; r += K) {
            ptrdiff_t at = r + K <= rows ? r : rows - K;
            if (K == 8)
                TL_NAME(tl_transpose8)(column, at, width, out + at * width + s);
            else if (K == 4)
                TL_NAME(tl_transpose4)(column, at, width, out + at * width + s);
            else
                TL_NAME(tl_transpose2)(column, at, width, out + at * width + s);
        }
    }
    for (; s < count; s++) {
        const TL_T* column = base + (idx ? idx[s] : start + s) * col_stride;
        for (ptrdiff_t r = 0; r < rows; r++) out[r * width + s] = column[r];
    }
}
