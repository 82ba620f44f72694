#!/usr/bin/env python3
"""Run uwsgitop's own code for one frame against a stats address and print
the lines it draws. A stand-in `curses` records `addstr` calls and answers
'q' when uwsgitop asks for a key, so no terminal is needed.

    python3 tests/support/uwsgitop_frame.py /path/to/uwsgitop 127.0.0.1:9191
"""
import importlib.machinery
import importlib.util
import sys
import types

lines = {}


class Screen:
    def addstr(self, y, x, text, *attrs):
        lines[y] = text

    def clear(self):
        lines.clear()

    def getch(self):
        return ord("q")

    def getmaxyx(self):
        return (200, 300)

    def timeout(self, ms):
        pass

    def refresh(self):
        pass


def fake_curses():
    curses = types.ModuleType("curses")
    curses.error = type("error", (Exception,), {})
    curses.initscr = Screen
    for name in ("noecho", "echo", "endwin", "start_color", "use_default_colors", "init_pair", "curs_set"):
        setattr(curses, name, lambda *args: None)
    curses.color_pair = lambda n: 0
    for i, name in enumerate(("COLOR_GREEN", "COLOR_MAGENTA", "COLOR_RED", "COLOR_YELLOW", "COLOR_BLUE")):
        setattr(curses, name, i)
    curses.A_REVERSE = curses.A_BOLD = curses.A_NORMAL = 0
    return curses


def main():
    script, address = sys.argv[1], sys.argv[2]
    sys.modules["curses"] = fake_curses()
    sys.argv = ["uwsgitop", address]
    loader = importlib.machinery.SourceFileLoader("uwsgitop_under_test", script)
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    loader.exec_module(module)
    module.main()
    for y in sorted(lines):
        print(lines[y])


if __name__ == "__main__":
    main()
