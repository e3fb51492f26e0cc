"""The page of ``vgg-gluon demo``: Gradio Blocks over one or more loaded networks.

``build_page(models)`` returns the Blocks (in Jupyter, ``page`` as the cell's
value, or ``page.launch(inline=True)``, renders it inline). Nothing is fetched
from another host: analytics are off and the theme uses the system's fonts.
The programmatic endpoint is ``/predict`` (``api_name='predict'``): an image
file, the model's name and the inversion setting in, the top-k as JSON out::

    from gradio_client import Client, handle_file
    Client('http://127.0.0.1:7860/').predict(handle_file('shoe.png'), 'fast', 'auto',
                                             api_name='/predict')
"""
import os

os.environ.setdefault('GRADIO_ANALYTICS_ENABLED', 'False')   # read when gradio is imported

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402

from ..data.fashion_mnist import TEXT_LABELS, test_split  # noqa: E402
from ..errors import VGGGluonError  # noqa: E402
from ..inference.images import prepare, prepare_image, to_grey  # noqa: E402
from .activations import first_filters, grid  # noqa: E402
from .run_view import RunView, curve_figure  # noqa: E402
from .inside import VIEW, answer, block_views, blocks_of, draw_field, fields, heat, input_view  # noqa: E402

SYSTEM_FONTS = ['ui-sans-serif', 'system-ui', 'DejaVu Sans', 'sans-serif']
MONO_FONTS = ['ui-monospace', 'DejaVu Sans Mono', 'monospace']


def theme():
    """Gradio's default look with local fonts only (no GoogleFont: no request out)."""
    return gr.themes.Default(font=SYSTEM_FONTS, font_mono=MONO_FONTS)


class Session:
    """The loaded networks by name {name: LoadedRun}, their layer tables, the test set,
    the networks that answer (``answering``: {name: net}, e.g. int8 ones; by default
    each LoadedRun's own), where each came from (``sources``: {name: run directory, or
    None for a shipped model}) and their run sections (``run_view.RunView``, cached
    under ``cache_dir``). ``allow_paths``: whether the page may load a run directory
    typed into it (the demo allows it on loopback only)."""

    def __init__(self, models, ctx, data_dir=None, answering=None, sources=None,
                 cache_dir=None, allow_paths=True):
        self.models, self.ctx, self.data_dir = models, ctx, data_dir
        self.cache_dir, self.allow_paths = cache_dir, allow_paths
        self.answering = {name: run.net for name, run in models.items()}
        self.answering.update(answering or {})
        self.sources = {name: None for name in models}
        self.sources.update(sources or {})
        self.blocks = {name: blocks_of(run.net, run.config) for name, run in models.items()}
        self._test = None
        self._views = {}

    def test_set(self):
        if self._test is None:
            self._test = test_split(self.data_dir)
        return self._test

    def run_view(self, name):
        if name not in self._views:
            run_dir = self.sources[name]
            self._views[name] = RunView(self.models[name], self.ctx, run_dir=run_dir,
                                        model=None if run_dir else name,
                                        data_dir=self.data_dir, cache_dir=self.cache_dir)
        return self._views[name]

    def add_run(self, path):
        """Load the run directory ``path`` beside the others; its name (VGGGluonError if
        it is not a run directory, or loading paths is off)."""
        from ..checkpoint.reader import load_model
        path = (path or '').strip()
        if not self.allow_paths:
            raise VGGGluonError('loading a run directory from the page is off (the page '
                                'listens beyond loopback); give it to vgg-gluon demo --also')
        if not path:
            raise VGGGluonError('type the path of a run directory first')
        if not os.path.isdir(path):
            raise VGGGluonError(f"{path}: no such directory")
        run = load_model(path, ctx=self.ctx)
        name = os.path.basename(os.path.normpath(path)) or path
        while name in self.models and self.sources.get(name) != path:
            name += "'"
        self.models[name], self.answering[name], self.sources[name] = run, run.net, path
        self.blocks[name] = blocks_of(run.net, run.config)
        self._views.pop(name, None)
        return name


def sketch_grey(value):
    """A Sketchpad value ({'composite': RGBA array}) -> (h, w) uint8 grey, or None if blank."""
    from PIL import Image
    composite = value.get('composite') if isinstance(value, dict) else value
    if composite is None:
        return None
    grey = to_grey(Image.fromarray(np.asarray(composite)))
    return None if grey.min() == grey.max() else grey


def _prepared_upload(path, invert):
    """prepare_image of an uploaded file; its messages name the file as the user named it,
    not Gradio's temporary folder."""
    try:
        return prepare_image(path, invert)
    except VGGGluonError as err:
        raise VGGGluonError(str(err).replace(str(path), os.path.basename(path))) from None


def _image_from(session, source, sketch, upload, label, index, invert):
    """(28x28 image, note) from the chosen input; VGGGluonError with a message if bad."""
    mode = 'auto' if invert else 'never'
    if source == 'draw':
        grey = sketch_grey(sketch)
        if grey is None:
            raise VGGGluonError('draw an item on the canvas first')
        prepared = prepare(grey, mode)
    elif source == 'upload':
        if not upload:
            raise VGGGluonError('upload an image file first')
        prepared = _prepared_upload(upload, mode)
    else:
        images, labels = session.test_set()
        chosen = np.flatnonzero(labels == TEXT_LABELS.index(label)) if label != 'any' else None
        pool = chosen if chosen is not None else np.arange(len(labels))
        i = int(pool[int(index) % len(pool)])
        return images[i], f"test image {i} (a {TEXT_LABELS[int(labels[i])]})"
    return prepared.image, ('inverted: it was dark on light, Fashion-MNIST is light on dark'
                            if prepared.inverted else 'not inverted')


def _shapes(views, config):
    rows = [f"| input | (1, {config.resize}, {config.resize}) |"]
    rows += [f"| block {v['block']} | ({', '.join(map(str, v['shape']))}) |" for v in views]
    return ("Each block halves height and width and doubles the channels:\n\n"
            "| | output (channels, height, width) |\n|---|---|\n" + '\n'.join(rows))


def _clickable(view):
    """A block's mean feature map enlarged to about 256 px: click a unit on it."""
    scale = max(1, 256 // view['mean'].shape[0])
    return grid(view['mean'][None], columns=1, scale=scale, gap=0)


def show(session, name, other, source, sketch, upload, label, index, invert, block):
    """Everything the page shows for one input; on bad input the message and empty outputs."""
    try:
        image, note = _image_from(session, source, sketch, upload, label, index, invert)
    except VGGGluonError as err:
        return (None, f"**Cannot use this input:** {err}", None, None, '', None, None, None, None)
    run = session.models[name]
    views = block_views(run.net, run.config, image, session.ctx)
    top = answer(session.answering[name], run.config, image, session.ctx, k=3)
    scores = {t['label']: t['probability'] for t in top['top_k']}
    compared = None
    if other and other != name and other in session.models:
        second = session.models[other]
        compared = {t['label']: t['probability']
                    for t in answer(session.answering[other], second.config, image,
                                    session.ctx)['top_k']}
    seen = np.kron(image, np.ones((8, 8), np.uint8))
    view = views[min(int(block), len(views)) - 1]
    note += (f"; the network sees this 28x28 grey image at {run.config.resize}x"
             f"{run.config.resize} px")
    return (seen, note, scores, compared, _shapes(views, run.config), view['grid'],
            _clickable(view), image, top['top_k'][0]['label'])


def click(session, name, image, block, evt: gr.SelectData):
    """The two receptive fields of the unit clicked on a block's map."""
    if image is None:
        return None, None, 'choose an input first'
    run = session.models[name]
    size = session.blocks[name][int(block) - 1]['output_shape'][1]
    scale = max(1, 256 // size)
    col, row = (min(size - 1, int(v) // scale) for v in evt.index)
    box, erf = fields(run.net, run.config, image, session.ctx, int(block), row, col,
                      session.blocks[name])
    rf = session.blocks[name][int(block) - 1]['rf']
    text = (f"block {block}, unit (row {row}, column {col}) of {size}x{size}: theoretical "
            f"field {rf}x{rf} px (the layer table), drawn clipped to the {run.config.resize}"
            f"x{run.config.resize} input: rows {box.top}-{box.bottom - 1}, columns "
            f"{box.left}-{box.right - 1} ({box.height}x{box.width} px)")
    if not erf.any():
        text += "; this unit is zero here (after its ReLU), so no gradient reaches the input"
    return draw_field(input_view(run.net, run.config, image), box), heat(erf), text


def api_predict(session, upload, name, invert):
    """The endpoint /predict: {'model', 'inverted', 'top_k': [...]} or {'error': message}."""
    try:
        if name not in session.models:
            raise VGGGluonError(f"no model {name!r}: choose one of {', '.join(session.models)}")
        prepared = _prepared_upload(upload, invert)
    except VGGGluonError as err:
        return {'error': str(err)}
    run = session.models[name]
    top = answer(session.answering[name], run.config, prepared.image, session.ctx,
                 k=len(TEXT_LABELS))['top_k']
    return {'model': name, 'inverted': prepared.inverted, 'top_k': top}


def show_run(session, name):
    """The run section of ``name``: learning curve, confusion matrix PNG, the most
    confidently wrong test images [(image, caption)], and a line of text."""
    view = session.run_view(name)
    try:
        records = view.records()
        curve = curve_figure(records) if records else None
    except VGGGluonError as err:
        records, curve = [], None
        view.notes.append(f"no learning curve: {err}")
    summary = view.summary()
    images, _ = session.test_set()
    wrong = [(np.kron(images[w['index']], np.ones((4, 4), np.uint8)),
              f"test {w['index']}: a {w['true']}, read as {w['predicted']} "
              f"{w['probability']:.2f}") for w in summary['wrong']]
    source = session.sources[name] or f"shipped model {name}"
    text = (f"**{source}**: {len(records)} epoch{'s' if len(records) != 1 else ''} recorded; "
            f"test accuracy {summary['accuracy']:.4f} on {summary['num_samples']} images"
            + (' (each with its mirror, as the run evaluated)'
               if session.models[name].config.tta == 'flip' else '')
            + f"; the {len(summary['wrong'])} most confidently wrong below")
    if view.notes:
        text += '\n\n' + '; '.join(view.notes)
    return curve, view.confusion_png(), wrong, text


def add_run(session, path, current_other):
    """The page's "add a run directory": a message, and both model lists updated."""
    try:
        name = session.add_run(path)
    except VGGGluonError as err:
        return (f"**Cannot load this run directory:** {err}", gr.update(), gr.update())
    names = list(session.models)
    return (f"loaded {path} as **{name}**; it is beside the model now",
            gr.update(choices=names), gr.update(choices=[''] + names, value=name))


def _blocks_choice(session, name, block):
    choices = [str(b['block']) for b in session.blocks[name]]
    return gr.update(choices=choices, value=block if block in choices else '1')


def _inputs(session):
    """The input column: source, canvas, upload, test-set picker, inversion switch."""
    source = gr.Radio(['draw', 'upload', 'test set'], value='test set', label='input',
                      elem_id='source')
    with gr.Tab('draw'):
        sketch = gr.Sketchpad(label='draw an item (pick the brush on the left)', type='numpy', elem_id='sketch',
                              canvas_size=(280, 280))
    with gr.Tab('upload'):
        upload = gr.File(label='an image file', type='filepath', elem_id='upload')
    with gr.Tab('test set'):
        label = gr.Dropdown(['any'] + list(TEXT_LABELS), value='any', label='class',
                            elem_id='label')
        index = gr.Number(value=0, precision=0, label='which one (0, 1, ...)', elem_id='index')
        shuffle = gr.Button('random', elem_id='random')
    invert = gr.Checkbox(value=True, label='invert dark-on-light pictures (auto)',
                         elem_id='invert')
    go = gr.Button('look inside', variant='primary', elem_id='go')
    return source, sketch, upload, label, index, shuffle, invert, go


def build_page(session, default=None):
    """The Blocks of the page over ``session``'s networks (the first, or ``default``, shown)."""
    names = list(session.models)
    with gr.Blocks(title='Inside VGG', analytics_enabled=False) as page:
        gr.Markdown('# Inside VGG\nWhat each block of a trained VGG sees of a Fashion-MNIST item.')
        with gr.Row():
            model = gr.Dropdown(names, value=default or names[0], label='model', elem_id='model')
            other = gr.Dropdown([''] + names, value='', label='side by side with', elem_id='other')
        with gr.Row():
            with gr.Column():
                source, sketch, upload, label, index, shuffle, invert, go = _inputs(session)
            with gr.Column():
                seen = gr.Image(label='what the network sees (28x28 grey)', elem_id='seen',
                                interactive=False, format='png')
                note = gr.Markdown(elem_id='note')
                scores = gr.Label(num_top_classes=3, label='the answer', elem_id='answer')
                compared = gr.Label(num_top_classes=3, label='the other model', elem_id='compared')
                top1 = gr.Textbox(label='top class', elem_id='top1', interactive=False)
        shapes = gr.Markdown(elem_id='shapes')
        block = gr.Radio([str(b['block']) for b in session.blocks[names[0]]], value='1',
                         label='block', elem_id='block')
        with gr.Row():
            maps = gr.Image(label='its strongest feature maps', elem_id='maps', interactive=False, format='png')
            clickable = gr.Image(label='click a unit (the block\'s mean map)', elem_id='clickable',
                                 interactive=False, format='png')
        with gr.Row():
            field = gr.Image(label='theoretical receptive field (red box)', elem_id='field',
                             interactive=False, format='png')
            effective = gr.Image(label='effective receptive field (|gradient|)',
                                 elem_id='effective', interactive=False, format='png')
        field_text = gr.Markdown(elem_id='field_text')
        filters = gr.Image(value=_filters(session, names[0]), label='the first convolution\'s '
                           'filters', elem_id='filters', interactive=False, format='png')
        with gr.Accordion('the run: learning curve, confusion matrix, confident mistakes',
                          open=True):
            show_the_run = gr.Button('show the run of this model', elem_id='show_run')
            run_text = gr.Markdown(elem_id='run_text')
            with gr.Row():
                curve = gr.Image(label='learning curve (metrics.jsonl)', elem_id='curve',
                                 interactive=False, format='png')
                confusion = gr.Image(label='confusion matrix (the test set)',
                                     elem_id='confusion', interactive=False, type='filepath',
                                     format='png')
            wrong = gr.Gallery(label='the most confidently wrong test images', columns=8,
                               elem_id='wrong', height='auto')
        with gr.Row():
            run_dir = gr.Textbox(label='add a run directory (e.g. runs/book) beside the model',
                                 elem_id='run_dir', scale=4)
            add = gr.Button('add', elem_id='add_run', scale=1)
        add_note = gr.Markdown(elem_id='add_note')
        image = gr.State(None)
        _wire(session, locals())
    return page


def serve(page, host='127.0.0.1', port=None, inline=False, block=True, open_browser=False):
    """Launch ``page`` on host:port (None: Gradio's 7860 or the next free one) with no share
    link, no analytics and local fonts; ``block=False`` returns at once (Jupyter, scripts:
    ``page.close()`` stops it); ``inline`` also shows it in the notebook's output."""
    return page.launch(server_name=host, server_port=port, share=False, inline=inline,
                       inbrowser=open_browser, prevent_thread_lock=not block, theme=theme(),
                       quiet=True, footer_links=['api'], ssr_mode=False, pwa=False,
                       mcp_server=False, enable_monitoring=False)



def serve_in_notebook(page, port=None, height=900):
    """Serve ``page`` on 127.0.0.1 without blocking and show it in a frame of the cell's
    output; returns ``stop()``, which closes the server and puts a line where the frame was.

    A saved notebook then holds that line, not a frame onto an address that no longer
    answers (a docs site built from it would try to load it from the reader's machine).
    """
    from IPython.display import HTML, Markdown, display
    serve(page, port=port, block=False)
    url = page.local_url
    frame = display(HTML(f'<iframe src="{url}" width="100%" height="{height}" '
                         'frameborder="0"></iframe>'), display_id=True)

    def stop():
        page.close()
        frame.update(Markdown(f'*The page was served here, from `{url}`, while the notebook '
                              'ran; run the notebook to use it.*'))
    return stop

def _filters(session, name):
    weights = first_filters(session.models[name].net)
    return grid(weights, columns=16, scale=8)


def _wire(session, c):
    """The page's events: look, random, click a unit, switch model, the API endpoint."""
    inputs = [c['model'], c['other'], c['source'], c['sketch'], c['upload'], c['label'],
              c['index'], c['invert'], c['block']]
    outputs = [c['seen'], c['note'], c['scores'], c['compared'], c['shapes'], c['maps'],
               c['clickable'], c['image'], c['top1']]

    def run(*values):
        return show(session, *values)

    for trigger in (c['go'].click, c['block'].change, c['model'].change, c['other'].change):
        trigger(run, inputs, outputs, api_visibility='private')
    c['shuffle'].click(lambda: int(np.random.randint(1000)), None, c['index'],
                       api_visibility='private').then(run, inputs, outputs,
                                                      api_visibility='private')
    c['model'].change(lambda name: _filters(session, name), c['model'], c['filters'],
                      api_visibility='private')
    c['model'].change(lambda name, block: _blocks_choice(session, name, block),
                      [c['model'], c['block']], c['block'], api_visibility='private')
    c['show_the_run'].click(lambda name: show_run(session, name), c['model'],
                            [c['curve'], c['confusion'], c['wrong'], c['run_text']],
                            api_visibility='private')
    c['add'].click(lambda path, other: add_run(session, path, other), [c['run_dir'], c['other']],
                   [c['add_note'], c['model'], c['other']], api_visibility='private')

    def on_click(name, image, block, evt: gr.SelectData):
        return click(session, name, image, block, evt)

    c['clickable'].select(on_click, [c['model'], c['image'], c['block']],
                          [c['field'], c['effective'], c['field_text']], api_visibility='private')
    endpoint_in = gr.File(visible=False, type='filepath')
    endpoint_out = gr.JSON(visible=False)
    mode = gr.Textbox(visible=False, value='auto')
    gr.Button(visible=False).click(lambda upload, name, invert: api_predict(session, upload, name,
                                                                            invert),
                                   [endpoint_in, c['model'], mode], endpoint_out,
                                   api_name='predict')
