# Writes a C file defining the bytes of a text file as an array, so that
# the chat page stays a plain HTML file in the source tree (a string
# literal of its size is beyond what C11 requires compilers to take).
#   cmake -DIN=page.html -DOUT=gw_page.c -DNAME=gw_page_html -P embed.cmake
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" hex_len)
math(EXPR size "${hex_len} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)"
       "\\1\n    " bytes "${bytes}")
file(WRITE "${OUT}.tmp"
"/* Generated from ${IN} by embed.cmake; do not edit. */\n"
"#include <stddef.h>\n\n"
"const char ${NAME}[] = {\n    ${bytes}0x00\n};\n"
"const size_t ${NAME}_len = ${size};\n")
file(RENAME "${OUT}.tmp" "${OUT}")
