# COLIBRI_WARNINGS: the warning set every build uses; --enable-werror (CI)
# turns warnings into errors.  Only flags the compiler accepts are kept.
AC_DEFUN([COLIBRI_WARNINGS], [
  AC_ARG_ENABLE([werror],
    [AS_HELP_STRING([--enable-werror], [treat compiler warnings as errors])],
    [], [enable_werror=no])
  WARN_CFLAGS=""
  for flag in -Wall -Wextra -Wformat=2 -Wshadow -Wpointer-arith \
              -Wstrict-prototypes -Wmissing-prototypes -Wcast-qual \
              -Wwrite-strings -Wvla -Wnull-dereference -Wimplicit-fallthrough \
              -Wno-unused-parameter -Wno-format-nonliteral; do
    AX_SAVE_CFLAGS="$CFLAGS"
    CFLAGS="$CFLAGS -Werror $flag"
    AC_MSG_CHECKING([whether $CC accepts $flag])
    AC_COMPILE_IFELSE([AC_LANG_PROGRAM([], [])],
      [AC_MSG_RESULT([yes]); WARN_CFLAGS="$WARN_CFLAGS $flag"],
      [AC_MSG_RESULT([no])])
    CFLAGS="$AX_SAVE_CFLAGS"
  done
  AS_IF([test "x$enable_werror" = xyes], [WARN_CFLAGS="$WARN_CFLAGS -Werror"])
  AC_SUBST([WARN_CFLAGS])
])
