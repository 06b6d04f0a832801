# Warnings are errors everywhere; the sanitizer build is a separate build tree.
add_compile_options(-Wall -Wextra -Werror -Wno-unused-parameter)
if(ACCEL_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=address,undefined)
  add_compile_definitions(ACCEL_SANITIZE=1)
endif()
