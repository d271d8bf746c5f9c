"""GANForge Studio in a real browser: Debian's Chromium, driven by Playwright, on a real stack.

The browser is named by its executable path (downloading Playwright's own build fails on these
machines; .ci/run installs Debian's). Screenshots go to tests/results/studio/ (ignored by git).
"""

import io
import json
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from archives import classes_files, png, zip_bytes
from conftest import wait_for_status
from PIL import Image

playwright = pytest.importorskip("playwright.sync_api", reason="the `test` extra installs playwright")

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
# Headless, and nothing of Chromium's own that would phone home (updates, sync, field trials).
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
RESULTS = Path(__file__).resolve().parents[1] / "results" / "studio"
WAIT_MS = 60_000


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: `apt-get install -y chromium` (.ci/run does it)")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS.parent / ".gitignore").write_text("*\n")
    with playwright.sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def new_page(browser, stack, *, with_key: bool = True):
    """A fresh page on the stack's API; records every request and script error. With the key, the
    page starts as one whose user entered the stack's admin key before (it lives in localStorage)."""
    context = browser.new_context(base_url=stack.api_url, viewport={"width": 1280, "height": 900},
                                  accept_downloads=True)
    if with_key and stack.admin_key:
        context.add_init_script(f"localStorage.setItem('ganforge.apiKey', {json.dumps(stack.admin_key)})")
    tab = context.new_page()
    tab.requested, tab.script_errors = [], []
    tab.on("request", lambda request: tab.requested.append(request.url))
    tab.on("pageerror", lambda error: tab.script_errors.append(str(error)))
    # The page's Content-Security-Policy stops a request to elsewhere before it is sent (so no
    # request event): the refusal Chromium logs counts as a failure too.
    tab.on("console", lambda message: "Content Security Policy" in message.text and tab.script_errors.append(message.text))
    return tab


def elsewhere(requested: list[str]) -> list[str]:
    """Requests that left the machine (object URLs and data URIs stay in the browser)."""
    return [url for url in requested if not url.startswith("data:")
            and urlsplit(url.removeprefix("blob:")).hostname != "127.0.0.1"]


def closed(tab) -> None:
    tab.context.close()
    assert not tab.script_errors, tab.script_errors
    assert elsewhere(tab.requested) == [], f"requests left the machine: {elsewhere(tab.requested)}"


@pytest.fixture
def page(browser, stack):
    """A page whose user has entered the key; fails the test on a script error or a request
    to anywhere but the stack."""
    tab = new_page(browser, stack)
    yield tab
    closed(tab)


@pytest.fixture
def keyless_page(browser, stack):
    tab = new_page(browser, stack, with_key=False)
    yield tab
    closed(tab)


def open_studio(page, tab: str = "models"):
    page.goto(f"/#{tab}")
    page.wait_for_selector("body[data-ready=true]", state="attached", timeout=WAIT_MS)


def screenshot(page, name: str) -> None:
    page.screenshot(path=RESULTS / f"{name}.png", full_page=True)


def image_file(size=(24, 24)) -> bytes:
    """A small picture with edges, as a user would drop."""
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    image.paste((220, 40, 40), (size[0] // 4, size[1] // 4, size[0] // 2, size[1] // 2))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def loaded_images(page, selector: str) -> int:
    return page.eval_on_selector_all(selector, "images => images.filter(i => i.complete && i.naturalWidth > 0).length")


def test_the_page_loads_with_no_request_leaving_the_machine(keyless_page, stack, api):
    page = keyless_page
    answer = httpx.get(f"{stack.api_url}/")  # the page and its files need no key: it asks for one
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in answer.headers["content-security-policy"]
    open_studio(page)
    if stack.admin_key:  # the API wants a key: the page says so, and works once it is entered
        notice = page.locator("#notice")
        assert notice.is_visible() and "key" in notice.inner_text()
        page.fill("#api-key", stack.admin_key)
        page.press("#api-key", "Enter")
        page.wait_for_function("() => document.body.dataset.ready === 'true' && !document.querySelector('#notice').textContent",
                               timeout=WAIT_MS)
        assert page.evaluate("() => localStorage.getItem('ganforge.apiKey')") == stack.admin_key
    names = [m["name"] for m in api.get("/models").json()["models"]]
    page.wait_for_function(f"() => document.querySelectorAll('#model-gallery .card').length === {len(names)}", timeout=WAIT_MS)
    # the generator's card shows samples drawn through POST /generate
    page.wait_for_function("() => document.querySelectorAll('[data-model=mnist-cdcgan] .sample img').length === 8",
                           timeout=WAIT_MS)
    page.wait_for_load_state("networkidle")
    screenshot(page, "models")

    assert any(url.endswith("/models") for url in page.requested)
    assert elsewhere(page.requested) == [], f"requests left the machine: {elsewhere(page.requested)}"
    assert page.locator("#model-gallery").inner_text().count("FID") >= 1  # quality figures from the manifest


def test_the_gallery_shows_every_figure_the_bundled_manifests_hold(page, api):
    """Issue 27, item 8: FID & co. of a same-compute comparison, PSNR/SSIM against bicubic, L1 and
    cycle figures, an InfoGAN's category matching, not "not evaluated yet"."""
    open_studio(page)
    count = len(api.get("/models").json()["models"])
    page.wait_for_function(f"() => document.querySelectorAll('#model-gallery .card').length === {count}",
                           timeout=WAIT_MS)

    def figures(name: str) -> str:
        return page.locator(f'[data-model="{name}"] .quality').inner_text()

    style = figures("fashion-stylegan2")
    assert "fashion-stylegan2\tFID 78.8" in style and "fashion-dcgan\tFID 86.8" in style and "precision 0.468" in style
    upscaler = figures("sr-x4")
    assert "PSNR-Y dB\t31.0" in upscaler and "bicubic PSNR-Y dB\t29.8" in upscaler and "held-out, 3 images" in upscaler
    assert "bicubic SSIM-Y\t0.830" in upscaler and "SSIM-Y\t0.858" in upscaler
    paired = figures("edges2digits-pix2pix")
    assert "L1 a→b\t0.0580" in paired and "input's L1\t0.255" in paired and "held-out, 500 images" in paired
    cycle = figures("thin2bold-cyclegan")
    assert "cycle L1 a\t0.0336" in cycle and "L1 b→a\t0.0717" in cycle
    assert "3→1" in figures("mnist-infogan") and "agreement 0.982" in figures("mnist-infogan")
    # Other tests may have measured mnist-cdcgan again on the shared stack: the page shows what the
    # manifest holds now, each figure in its own cell.
    fid = api.get("/models/mnist-cdcgan/versions/1").json()["metrics"]["evaluations"]["mnist-5k/mnist_cnn"]["fid"]
    assert f"FID {fid:#.3g}" not in figures("mnist-cdcgan") and f"FID\t{fid:#.3g}" in figures("mnist-cdcgan")
    for name in ("fashion-stylegan2", "fashion-dcgan", "sr-x4", "edges2digits-pix2pix", "thin2bold-cyclegan",
                 "mnist-infogan", "mnist-cdcgan"):
        assert "not evaluated yet" not in figures(name), name
    screenshot(page, "figures")


def test_unknown_studio_files_are_404_problems(api):
    for path in ("/studio/nothing.js", "/studio/../app.py", "/studio/js/../../routers/studio.py", "/studio/js"):
        answer = api.get(path)
        assert answer.status_code == 404 and answer.headers["content-type"] == "application/problem+json", path


def test_a_generate_click_shows_images(page):
    open_studio(page, "generate")
    form = page.locator("#generate-form")
    form.locator("select[name=model]").select_option("mnist-cdcgan")
    form.locator("select[name=label]").select_option("3")
    form.locator("input[name=n]").fill("8")
    seed = form.locator("input[name=seed]")
    before = seed.input_value()
    page.click("#shuffle-seed")
    assert seed.input_value() != before
    form.locator("button[type=submit]").click()
    page.wait_for_function("() => document.querySelectorAll('[data-testid=generated] img').length === 8", timeout=WAIT_MS)
    page.wait_for_function("() => [...document.querySelectorAll('[data-testid=generated] img')].every(i => i.complete && i.naturalWidth === 28)",
                           timeout=WAIT_MS)
    assert f"seed {seed.input_value()}" in page.locator("#generate-output").inner_text()
    screenshot(page, "generate")


def test_a_latent_walk_shows_its_frames_and_the_animation(page):
    open_studio(page, "generate")
    form = page.locator("#generate-form")
    form.locator("select[name=model]").select_option("mnist-cdcgan")
    form.locator("input[name=seed]").fill("5")
    form.locator("input[name=to_seed]").fill("9")
    form.locator("input[name=frames]").fill("6")
    assert form.locator("[data-style-only]").is_hidden()  # no ψ for a model without styles
    page.click("#walk")
    page.wait_for_function("() => document.querySelectorAll('[data-testid=walk] img').length === 6", timeout=WAIT_MS)
    page.wait_for_function("() => { const i = document.querySelector('#generate-output img.animation'); "
                           "return i && i.complete && i.naturalWidth === 28; }", timeout=WAIT_MS)
    assert "walk in z from seed 5 to 9" in page.locator("#generate-output").inner_text()


def drop_file(page, selector: str, name: str, data: bytes, mime: str = "image/png") -> None:
    """A real drop event carrying a File, as dragging one from the desktop makes."""
    transfer = page.evaluate_handle(
        """([name, bytes, mime]) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([new Uint8Array(bytes)], name, { type: mime }));
            return transfer;
        }""",
        [name, list(data), mime],
    )
    page.dispatch_event(selector, "drop", {"dataTransfer": transfer})


def test_an_upscale_shows_the_before_after_slider(page):
    open_studio(page, "upscale")
    form = page.locator("#upscale-form")
    drop_file(page, "#upscale-form .dropzone", "patch.png", image_file((24, 24)))
    assert "patch.png" in form.locator(".dropzone").inner_text()
    form.locator("select[name=model]").select_option("sr-x4")
    form.locator("button[type=submit]").click()
    slider = page.locator("#upscale [data-testid=before-after]")
    slider.wait_for(timeout=WAIT_MS)
    page.wait_for_function("() => { const i = document.querySelector('#upscale .after'); return i && i.naturalWidth === 96; }",
                           timeout=WAIT_MS)
    assert "24×24 → 96×96" in page.locator("#upscale .result").inner_text()
    # moving the handle uncovers more of the input
    slider.locator("input[type=range]").fill("80")
    assert "inset(0px 20% 0px 0px)" in slider.locator(".before").evaluate("i => getComputedStyle(i).clipPath")
    download = page.locator("#upscale a.download")
    assert download.get_attribute("download") == "patch-upscale.png"
    with page.expect_download() as saved:
        download.click()
    assert Image.open(saved.value.path()).size == (96, 96)
    screenshot(page, "upscale")


def test_a_translate_through_a_chosen_file(page):
    open_studio(page, "translate")
    form = page.locator("#translate-form")
    form.locator("input[type=file]").set_input_files(
        files=[{"name": "digit.png", "mimeType": "image/png", "buffer": png(255, (32, 32), "L")}])
    form.locator("select[name=model]").select_option("thin2bold-cyclegan")
    assert form.locator("select[name=direction] option").all_inner_texts() == ["a2b", "b2a"]
    form.locator("select[name=direction]").select_option("b2a")
    form.locator("button[type=submit]").click()
    page.locator("#translate [data-testid=before-after]").wait_for(timeout=WAIT_MS)
    assert "32×32 → 32×32" in page.locator("#translate .result").inner_text()
    # a white square is no bold-pen digit: the answer's warning is shown (issue 27, item 7)
    assert "mean gray level 1.00" in page.locator("#translate .result .warning").first.inner_text()


def test_a_dataset_upload_names_each_failing_file(page):
    open_studio(page, "datasets")
    archive = zip_bytes({"cats/a.png": png(), "cats/b.png": png((0, 90, 0)), "dogs/c.png": png((0, 0, 90)),
                         "dogs/broken.png": b"not a picture"})
    form = page.locator("#dataset-form")
    form.locator("input[name=file]").set_input_files(
        files=[{"name": "pets.zip", "mimeType": "application/zip", "buffer": archive}])
    form.locator("select[name=layout]").select_option("classes")
    form.locator("button[type=submit]").click()
    errors = page.locator("#dataset-result .file-errors li")
    errors.first.wait_for(timeout=WAIT_MS)
    assert "dogs/broken.png" in errors.all_inner_texts()[0]

    # without the broken file it is accepted: its preview shows, and the train form offers it
    form.locator("input[name=file]").set_input_files(
        files=[{"name": "pets.zip", "mimeType": "application/zip", "buffer": zip_bytes(classes_files())}])
    form.locator("input[name=name]").fill("studio pets")
    form.locator("button[type=submit]").click()
    accepted = page.locator("#dataset-result .card")
    accepted.wait_for(timeout=WAIT_MS)
    dataset_id = accepted.get_attribute("data-dataset")
    page.wait_for_function("() => { const i = document.querySelector('#dataset-result .card img'); "
                           "return i && i.complete && i.naturalWidth > 0; }", timeout=WAIT_MS)
    assert "2 classes: cat, dog" in accepted.inner_text()
    page.click("a[href='#train']")
    page.locator("#train-form select[name=architecture]").select_option("cdcgan")
    assert dataset_id in page.locator("#train-form select[name=dataset] option").evaluate_all("os => os.map(o => o.value)")


def test_a_training_from_the_form_draws_a_growing_loss_curve_and_samples_and_cancels(page, api):
    open_studio(page, "train")
    form = page.locator("#train-form")
    form.locator("select[name=architecture]").select_option("dcgan")
    form.locator("select[name=dataset]").select_option("digits")
    form.locator("input[name=model_name]").fill("studio-dcgan")
    # long enough to still be running when canceled; tiny so each step is quick
    for name, value in {"steps": "20000", "image_size": "8", "seed": "3", "sample_every": "10",
                        "checkpoint_every": "0"}.items():
        form.locator(f"input[name={name}]").fill(value)
    form.locator("details summary").click()
    for name, value in {"base_features": "8", "batch_size": "32", "latent_dim": "16"}.items():
        form.locator(f"#hyperparameters [name={name}]").fill(value)
    form.locator("button[type=submit]").click()

    dashboard = page.locator("#dashboard")
    dashboard.wait_for(timeout=WAIT_MS)
    chart = page.locator("#loss-chart")
    page.wait_for_function("() => Number(document.querySelector('#loss-chart').dataset.points) >= 2", timeout=WAIT_MS)
    seen = int(chart.get_attribute("data-points"))
    page.wait_for_function(f"() => Number(document.querySelector('#loss-chart').dataset.points) > {seen}", timeout=WAIT_MS)
    page.wait_for_function("() => { const i = document.querySelector('#sample-latest'); return !i.hidden && i.naturalWidth > 0; }",
                           timeout=WAIT_MS)
    assert loaded_images(page, "#sample-strip img") >= 1
    assert page.locator("#dash-status").inner_text() == "running"
    assert "/ 20000" in page.locator("#dash-step").inner_text()
    screenshot(page, "train")

    job_id = dashboard.get_attribute("data-job")
    page.click("#dash-cancel")
    page.wait_for_function("() => document.querySelector('#dash-status').textContent === 'canceled'", timeout=WAIT_MS)
    page.locator("#dash-result", has_text="Canceled").wait_for(timeout=WAIT_MS)
    assert wait_for_status(api, job_id, {"canceled"})["status"] == "canceled"

    # the page remembers the jobs it started
    page.click("a[href='#jobs']")
    row = page.locator(f"#job-rows tr[data-job='{job_id}']")
    row.wait_for(timeout=WAIT_MS)
    assert "canceled" in row.inner_text()
    # GET /jobs adds the key's jobs that this page did not remember, e.g. the gallery's samples
    page.locator("#job-rows tr", has_text="mnist-cdcgan").first.wait_for(timeout=WAIT_MS)
    screenshot(page, "jobs")
