/*
 * name: the naming rule for endpoints and deployments (Azure's): a letter
 * first, then letters, digits and single dashes, 3 to 32 characters, no
 * dash at the end. Names end up in URLs, file names and log lines, so the
 * rule is also what keeps them safe there. Pure; any thread.
 */
#include "spec/spec.h"

#include <stdio.h>
#include <string.h>

#define NAME_MIN 3
#define NAME_MAX 32

static int is_letter(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

int spec_name_valid(const char *name, const char *what, struct inf_err *err)
{
    if (what == NULL)
        what = "name";
    if (name == NULL || name[0] == '\0')
        return inf_err_set(err, INF_EINVAL, "%s is missing", what);

    /* Messages show the name cut short and with anything but printable
     * ASCII replaced: a hostile name must not fill or split a log line. */
    char show[NAME_MAX + 4];
    size_t len = strnlen(name, NAME_MAX + 1);
    for (size_t i = 0; i < len && i < NAME_MAX; i++)
        show[i] = name[i] >= 0x20 && name[i] < 0x7f ? name[i] : '?';
    snprintf(show + (len < NAME_MAX ? len : NAME_MAX), 4, "%s", len > NAME_MAX ? "..." : "");
    if (len > NAME_MAX)
        return inf_err_set(err, INF_EINVAL, "%s '%s' is too long: at most %d characters", what,
                           show, NAME_MAX);
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!is_letter(c) && !is_digit(c) && c != '-')
            return inf_err_set(err, INF_EINVAL,
                               "%s '%s' has a character other than letters, digits and dashes "
                               "at position %zu",
                               what, show, i + 1);
    }
    if (!is_letter(name[0]))
        return inf_err_set(err, INF_EINVAL, "%s '%s' must start with a letter", what, show);
    if (len < NAME_MIN)
        return inf_err_set(err, INF_EINVAL, "%s '%s' is too short: at least %d characters", what,
                           show, NAME_MIN);
    if (strstr(name, "--") != NULL)
        return inf_err_set(err, INF_EINVAL, "%s '%s' has two dashes in a row", what, show);
    if (name[len - 1] == '-')
        return inf_err_set(err, INF_EINVAL, "%s '%s' must not end with a dash", what, show);
    return 0;
}
