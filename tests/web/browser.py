#!/usr/bin/python3
"""Browser tests for mio-chat's built-in page, driven through WebDriver (Debian's
chromium, chromium-driver and python3-selenium), against the real server binary.

usage: tests/web/browser.py MIO_CHAT_BINARY
Run by tests/web.rs. Exits 0 when every check passed; prints the failed one otherwise.
Everything stays on 127.0.0.1, every wait is bounded, and the script stops by itself.
"""
import os
import socket
import subprocess
import sys
import tempfile
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

BINARY = sys.argv[1]
PATIENCE = 15.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port):
    proc = subprocess.Popen([BINARY, "serve", f"127.0.0.1:{port}"], stderr=subprocess.PIPE)
    line = proc.stderr.readline().decode()
    assert "listening on" in line, line
    return proc


def stop_server(proc):
    proc.kill()
    proc.wait()


def browser():
    options = webdriver.ChromeOptions()
    for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=390,800",
                 f"--user-data-dir={tempfile.mkdtemp(prefix='mio-chat-chrome-')}"]:
        options.add_argument(flag)
    options.binary_location = "/usr/bin/chromium"
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def wait_until(what, check):
    deadline = time.time() + PATIENCE
    while time.time() < deadline:
        try:
            if check():
                return
        except Exception:  # the page may be between states
            pass
        time.sleep(0.05)
    raise AssertionError(f"not within {PATIENCE} s: {what}")


def lines(page):
    return [p.text for p in page.find_elements(By.CSS_SELECTOR, "#log p")]


def type_line(page, text):
    box = page.find_element(By.ID, "line")
    box.send_keys(text)
    page.find_element(By.CSS_SELECTOR, "#say button").click()


class LineClient:
    """A netcat-style client: a line in, a line out."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=PATIENCE)
        self.sock.sendall(b"\n")
        self.buf = b""

    def send(self, text):
        self.sock.sendall(text.encode() + b"\n")

    def wait_for(self, want):
        deadline = time.time() + PATIENCE
        while time.time() < deadline:
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                if line.decode() == want:
                    return
            self.buf += self.sock.recv(65536)
        raise AssertionError(f"nc client never got {want!r}")


def two_pages_and_a_line_client_chat_in_one_room(port):
    a, b = browser(), browser()
    try:
        a.get(f"http://127.0.0.1:{port}/")
        wait_until("page a welcomed", lambda: any("welcome to mio-chat" in t for t in lines(a)))
        b.get(f"http://127.0.0.1:{port}/")
        wait_until("page b welcomed", lambda: any("welcome to mio-chat" in t for t in lines(b)))
        type_line(a, "/nick alice")
        wait_until("alice renamed", lambda: "* guest1 is now alice" in lines(b))
        nc = LineClient(port)
        nc.wait_for("* welcome to mio-chat, you are guest3; 3 online; /help for commands")
        type_line(a, "hello from a browser")
        wait_until("b sees alice", lambda: "alice: hello from a browser" in lines(b))
        nc.wait_for("alice: hello from a browser")
        nc.send("hi from netcat")
        wait_until("a sees netcat", lambda: "guest3: hi from netcat" in lines(a))
        wait_until("who list in the header", lambda: "alice" in a.find_element(By.ID, "who").text)
        # A message with markup is shown as text, never run or parsed.
        nc.send("<script>window.pwned=1</script><b>bold</b>")
        wait_until("markup shown as text",
                   lambda: "guest3: <script>window.pwned=1</script><b>bold</b>" in lines(a))
        assert a.execute_script("return window.pwned === undefined"), "the script ran"
        assert not a.find_elements(By.CSS_SELECTOR, "#log b"), "markup was parsed"
        if os.environ.get("MIO_CHAT_SCREENSHOT"):
            a.save_screenshot(os.environ["MIO_CHAT_SCREENSHOT"])
    finally:
        a.quit()
        b.quit()


def a_page_survives_a_server_restart(port, server):
    page = browser()
    try:
        page.get(f"http://127.0.0.1:{port}/")
        wait_until("welcomed", lambda: any("welcome to mio-chat" in t for t in lines(page)))
        type_line(page, "/nick carol")
        type_line(page, "/join corner")
        wait_until("joined corner", lambda: page.find_element(By.ID, "room").text == "corner")
        stop_server(server)
        wait_until("it notices", lambda: "reconnecting" in page.find_element(By.ID, "status").text)
        server = start_server(port)
        nc = LineClient(port)
        nc.send("/join corner")
        nc.wait_for("* guest1 joined")  # the new server's first client is the nc one
        wait_until("back as carol in corner", lambda: page.find_element(By.ID, "status").text == "connected")
        nc.wait_for("* carol joined")
        type_line(page, "back again")
        nc.wait_for("carol: back again")
    finally:
        page.quit()
    return server


def main():
    port = free_port()
    server = start_server(port)
    try:
        two_pages_and_a_line_client_chat_in_one_room(port)
        server = a_page_survives_a_server_restart(port, server)
    finally:
        stop_server(server)
    print("browser: all checks passed")


if __name__ == "__main__":
    main()
