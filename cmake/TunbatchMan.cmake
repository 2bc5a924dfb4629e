# Manual pages: man/<page>.<section>, installed to share/man/man<section>/.
# A page documents a family (tb_coalescer_commit.3 has tb_coalescer_reserve,
# tb_coalescer_commit, tb_coalescer_commit_key and tb_coalescer_flush under
# NAME): every other name its NAME section lists gets a one-line .so page, so
# that `man 3 tb_coalescer_flush` opens the family's page. tunbatch(1) comes
# with the CLI.
file(GLOB TB_MAN_PAGES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/man/*.[37])
if(TB_BUILD_CLI)
  list(APPEND TB_MAN_PAGES ${PROJECT_SOURCE_DIR}/man/tunbatch.1)
endif()
set(TB_MAN_LINKS_DIR ${PROJECT_BINARY_DIR}/man-links)
file(REMOVE_RECURSE ${TB_MAN_LINKS_DIR})
foreach(page ${TB_MAN_PAGES})
  get_filename_component(file ${page} NAME)
  string(REGEX REPLACE "^.*\\.([137])$" "\\1" section ${file})
  string(REGEX REPLACE "\\.[137]$" "" self ${file})
  install(FILES ${page} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
  file(STRINGS ${page} names REGEX "^\\.Nm [A-Za-z_0-9]+")
  foreach(line ${names})
    string(REGEX REPLACE "^\\.Nm ([A-Za-z_0-9]+).*$" "\\1" name "${line}")
    if(NOT name STREQUAL self AND NOT EXISTS ${TB_MAN_LINKS_DIR}/${name}.${section})
      file(WRITE ${TB_MAN_LINKS_DIR}/${name}.${section} ".so man${section}/${file}\n")
      install(FILES ${TB_MAN_LINKS_DIR}/${name}.${section} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
    endif()
  endforeach()
endforeach()
