/* Included by _tile.h with TL_T and TL_NAME (as for _tile_impl.h): gathering
 * the samples of a training tile when each sample's values are contiguous
 * (row stride 1: X.T of a C-ordered array, as users hold X) and the samples
 * are not (_gather_tile in _cython_kernels.pyx). Value by value, that took
 * one load and one store per value (60% of the block loop outside the tile
 * steps; GCC does not vectorise the transposition itself). Here blocks of
 * 8 samples x 8 values are loaded as 8 vectors, transposed by shuffles and
 * stored as 8 vectors. Plain copies: no rounding involved. */

typedef TL_T TL_NAME(tl_v8) __attribute__((vector_size(8 * sizeof(TL_T))));

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

/* out[r * width + s] = column s's value r, for r < rows and s < count; column s
 * starts at base + c * col_stride with c = idx[s], or start + s when idx is
 * NULL. Samples in blocks of 8 (the rest value by value); with rows >= 8, the
 * values in blocks of 8 too, the last block overlapping the one before when
 * rows is not a multiple of 8 (it writes the same values again). */
static inline void TL_NAME(tl_gather_columns)(
    const TL_T* restrict base, ptrdiff_t rows, ptrdiff_t col_stride, const int64_t* idx,
    ptrdiff_t start, ptrdiff_t count, ptrdiff_t width, TL_T* restrict out)
{
    ptrdiff_t s = 0;
    for (; rows >= 8 && s + 8 <= count; s += 8) {
        const TL_T* column[8];
        for (int k = 0; k < 8; k++)
            column[k] = base + (idx ? idx[s + k] : start + s + k) * col_stride;
        for (ptrdiff_t r = 0; r < rows; r += 8) {
            ptrdiff_t at = r + 8 <= rows ? r : rows - 8;
            TL_NAME(tl_transpose8)(column, at, width, out + at * width + s);
        }
    }
    for (; s < count; s++) {
        const TL_T* column = base + (idx ? idx[s] : start + s) * col_stride;
        for (ptrdiff_t r = 0; r < rows; r++) out[r * width + s] = column[r];
    }
}
