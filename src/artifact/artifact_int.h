/*
 * artifact_int: helpers shared by pack.c and unpack.c.
 */
#ifndef INF_ARTIFACT_ARTIFACT_INT_H
#define INF_ARTIFACT_ARTIFACT_INT_H

#include <locale.h>

/* libarchive converts names between the thread's locale and the UTF-8 of
 * pax headers. Packing and unpacking switch the calling thread to C.UTF-8
 * (when the system has it) so an archive's bytes, and therefore its id,
 * never depend on the user's or the server's locale. Enter and leave are
 * paired on the same thread. */
struct artifact_locale {
    locale_t utf8;
    locale_t saved;
};

static inline void artifact_locale_enter(struct artifact_locale *l)
{
    l->utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
    l->saved = l->utf8 != (locale_t)0 ? uselocale(l->utf8) : (locale_t)0;
}

static inline void artifact_locale_leave(struct artifact_locale *l)
{
    if (l->utf8 == (locale_t)0)
        return;
    uselocale(l->saved);
    freelocale(l->utf8);
}

#endif
