"""The offline storyboard's sentence shapes in languages other than English.

Each language has fourteen `Template`s with the same roles as the English set (a hook, a body of
questions, contrasts, facts, and a closing thought), enough for the longest video without a repeat.
Unlike the English set they need no grammar agreement: the topic is kept exactly as the user wrote
it, and each sentence is shaped so that any noun phrase fits (`{s}` in a quoting frame such as
"« {s} »", "「{s}」" or "тема «{s}»" where a language would otherwise need articles, particles or
case endings). Visuals stay
in English: they are image prompts.

Japanese is written in kana: the offline voice (eSpeak NG) reads kana naturally, but spends about a
second on every kanji, so only the user's topic brings kanji in.
"""

from __future__ import annotations

from providers.offline.templates import Role, Template

__all__ = ["WORLD_TEMPLATES"]

H, Q, C, P, F = Role.HOOK, Role.QUESTION, Role.CONTRAST, Role.PICTURE, Role.FACT
T, SC, E, ME, CL = Role.TIME, Role.SCALE, Role.EVERYDAY, Role.MEANING, Role.CLOSE

# the pictures, shared by every language (English: the image models read only English)
_V = {
    "hook1": "a cinematic establishing shot of {s}, dramatic light",
    "hook2": "a mysterious doorway of light opening onto {s}",
    "q1": "an intricate close-up revealing how {s} works",
    "q2": "ripples spreading outward from {s} across still water",
    "c1": "a split frame: calm surface above, turbulent depths below",
    "p1": "a first glimpse of {s} at dawn, soft golden light",
    "f1": "a repeating geometric pattern echoing {s}",
    "f2": "a single small spark growing into a vast glow",
    "t1": "an old engraving style view of {s}, timeless and faded",
    "sc1": "an enormous aerial view of {s}, a tiny figure for scale",
    "e1": "{s} glimpsed in an ordinary street at dusk",
    "me1": "looking at {s} through a glowing lens",
    "cl1": "{s} at golden hour, a calm final wide shot",
    "cl2": "a horizon at sunrise beyond {s}, open sky",
}
_ROLES = (("hook1", H), ("hook2", H), ("q1", Q), ("q2", Q), ("c1", C), ("p1", P), ("f1", F), ("f2", F),
          ("t1", T), ("sc1", SC), ("e1", E), ("me1", ME), ("cl1", CL), ("cl2", CL))


def _set(lang: str, lines: dict[str, tuple[str, str, tuple[str, ...]]]) -> tuple[Template, ...]:
    """Templates from {key: (core, more, phrases)}, with the shared roles and pictures."""
    return tuple(Template(f"{lang}-{key}", role, *lines[key], _V[key]) for key, role in _ROLES)


FR = _set("fr", {
    "hook1": ("Voici ce que presque personne ne remarque à propos de « {s} ».",
              "Restez avec moi : cela change tout.", ("{focus}", "Regardez mieux")),
    "hook2": ("Derrière « {s} », il y a une histoire cachée, et elle commence là où on ne l'attend pas.",
              "Suivons-la.", ("{focus}", "L'histoire cachée")),
    "q1": ("Alors, comment tout cela fonctionne-t-il vraiment ?",
           "La réponse est moins évidente qu'on ne le croit.", ("La vraie question", "Comment ?")),
    "q2": ("Pourquoi est-ce que cela compte ?",
           "Parce que « {s} » façonne notre monde plus qu'on ne le pense.", ("Pourquoi c'est important",)),
    "c1": ("En surface, tout semble simple.", "En dessous, des forces tirent dans tous les sens.",
           ("Sous la surface", "Deux visages")),
    "p1": ("Imaginez « {s} », vu pour la toute première fois.", "Chaque détail a sa raison d'être.",
           ("Imaginez", "Premier regard")),
    "f1": ("L'idée clé : un même motif se répète encore et encore.",
           "Une fois qu'on le voit, on le voit partout.", ("Le motif", "Encore et encore")),
    "f2": ("Un petit changement peut avoir un effet énorme.", "Tout se joue souvent dès le départ.",
           ("Petits changements", "Grands effets")),
    "t1": ("On s'y intéresse depuis très longtemps.", "Et chaque génération l'a vu autrement.",
           ("À travers le temps", "Hier et aujourd'hui")),
    "sc1": ("On sous-estime facilement l'échelle de tout cela.",
            "Prenez du recul, et les chiffres donnent le vertige.", ("Voir grand", "Prendre du recul")),
    "e1": ("Pas besoin d'un laboratoire pour le voir à l'œuvre.",
           "On en trouve des traces dans la vie de tous les jours.", ("Partout autour de nous",)),
    "me1": ("Comprendre « {s} » change notre regard sur le monde.",
            "C'est ce qui rend le sujet si passionnant.", ("Un nouveau regard",)),
    "cl1": ("Alors, la prochaine fois, regardez de plus près.",
            "Il se passe toujours plus de choses qu'on ne le croit.", ("Regardez de plus près",)),
    "cl2": ("L'histoire de « {s} » continue de s'écrire.", "Peut-être en écrirez-vous le prochain chapitre.",
            ("Le prochain chapitre", "À suivre")),
})

DE = _set("de", {
    "hook1": ("Hier ist etwas, das fast niemand an „{s}“ bemerkt.",
              "Bleib dran, denn es verändert deinen Blick.", ("{focus}", "Genau hinsehen")),
    "hook2": ("Hinter „{s}“ steckt eine verborgene Geschichte, und sie beginnt an einem unerwarteten Ort.",
              "Folgen wir ihr.", ("{focus}", "Die verborgene Geschichte")),
    "q1": ("Wie funktioniert das alles eigentlich?", "Die Antwort ist weniger offensichtlich, als man denkt.",
           ("Die eigentliche Frage", "Wie geht das?")),
    "q2": ("Warum ist das überhaupt wichtig?", "Weil „{s}“ unsere Welt mehr prägt, als wir merken.",
           ("Warum es zählt",)),
    "c1": ("An der Oberfläche wirkt alles einfach.", "Darunter ziehen Kräfte in alle Richtungen.",
           ("Unter der Oberfläche", "Zwei Seiten")),
    "p1": ("Stell dir „{s}“ vor, zum allerersten Mal gesehen.", "Jedes Detail hat seinen Grund.",
           ("Stell dir vor", "Der erste Blick")),
    "f1": ("Die Kernidee: Ein Muster wiederholt sich immer wieder.",
           "Wer es einmal sieht, sieht es überall.", ("Das Muster", "Immer wieder")),
    "f2": ("Kleine Änderungen können riesige Folgen haben.", "Oft entscheidet sich alles schon am Anfang.",
           ("Kleine Ursache", "Große Wirkung")),
    "t1": ("Die Menschen beschäftigen sich damit schon sehr lange.",
           "Und jede Generation hat es anders gesehen.", ("Im Wandel der Zeit", "Damals und heute")),
    "sc1": ("Die Größenordnung wird leicht unterschätzt.", "Zoom heraus, und die Zahlen werden unvorstellbar.",
            ("Größer denken", "Herauszoomen")),
    "e1": ("Man braucht kein Labor, um es am Werk zu sehen.", "Spuren davon finden sich im ganz normalen Alltag.",
           ("Mitten im Alltag",)),
    "me1": ("Wer „{s}“ versteht, sieht die Welt mit anderen Augen.",
            "Genau das macht das Thema so spannend.", ("Ein neuer Blick",)),
    "cl1": ("Also schau beim nächsten Mal genauer hin.", "Es passiert immer mehr, als man auf den ersten Blick sieht.",
            ("Genauer hinsehen",)),
    "cl2": ("Die Geschichte von „{s}“ wird noch geschrieben.", "Vielleicht schreibst du das nächste Kapitel.",
            ("Das nächste Kapitel", "Fortsetzung folgt")),
})

ES = _set("es", {
    "hook1": ("Esto es algo que casi nadie nota sobre «{s}».", "Quédate conmigo, porque lo cambia todo.",
              ("{focus}", "Mira otra vez")),
    "hook2": ("Detrás de «{s}» hay una historia oculta, y empieza donde menos lo esperas.", "Sigámosla.",
              ("{focus}", "La historia oculta")),
    "q1": ("¿Cómo funciona todo esto en realidad?", "La respuesta es menos obvia de lo que parece.",
           ("La verdadera pregunta", "¿Cómo funciona?")),
    "q2": ("¿Por qué importa todo esto?", "Porque «{s}» da forma a nuestro mundo más de lo que creemos.",
           ("Por qué importa",)),
    "c1": ("En la superficie, todo parece sencillo.", "Por debajo, hay fuerzas que tiran en todas direcciones.",
           ("Bajo la superficie", "Dos caras")),
    "p1": ("Imagina «{s}», visto por primera vez.", "Cada detalle tiene su razón de ser.",
           ("Imagina", "A primera vista")),
    "f1": ("La idea clave: un patrón se repite una y otra vez.", "Cuando lo ves, lo ves en todas partes.",
           ("El patrón", "Una y otra vez")),
    "f2": ("Un pequeño cambio puede tener un efecto enorme.", "Muchas veces todo se decide al principio.",
           ("Pequeños cambios", "Grandes efectos")),
    "t1": ("La gente lleva muchísimo tiempo fascinada por esto.", "Y cada generación lo ha visto de otra manera.",
           ("A través del tiempo", "Antes y ahora")),
    "sc1": ("Es fácil subestimar la escala de todo esto.", "Aléjate un poco y las cifras marean.",
            ("Piensa en grande", "Aléjate")),
    "e1": ("No hace falta un laboratorio para verlo en acción.", "Aparece en la vida de todos los días.",
           ("A nuestro alrededor",)),
    "me1": ("Entender «{s}» cambia cómo ves el mundo.", "Eso es lo que lo hace tan fascinante.",
            ("Una nueva mirada",)),
    "cl1": ("Así que la próxima vez, míralo dos veces.", "Siempre pasa más de lo que se ve a simple vista.",
            ("Míralo dos veces",)),
    "cl2": ("La historia de «{s}» todavía se está escribiendo.", "Quizás tú escribas el próximo capítulo.",
            ("El próximo capítulo", "Continuará")),
})

JA = _set("ja", {
    "hook1": ("「{s}」には、ほとんどのひとがきづかないひみつがあります。", "さいごまでみてください。",
              ("{focus}", "もういちど")),
    "hook2": ("「{s}」のうらには、かくれたものがたりがあります。", "いっしょにたどってみましょう。",
              ("{focus}", "かくれたものがたり")),
    "q1": ("では、いったいどうやってうごいているのでしょう。", "こたえは、おもったよりふしぎです。",
           ("ほんとうのなぞ", "どうして？")),
    "q2": ("なぜ、これがたいせつなのでしょう。", "わたしたちのせかいを、しずかにかえているからです。",
           ("なぜたいせつ？",)),
    "c1": ("みためはとてもシンプルです。", "でも、そのおくでは、いろいろなちからがはたらいています。",
           ("みえないところ", "ふたつのかお")),
    "p1": ("はじめてみるときのことを、そうぞうしてください。", "どのこまかいところにも、わけがあります。",
           ("そうぞうして", "はじめてのけしき")),
    "f1": ("だいじなのは、おなじかたちがなんどもくりかえされることです。", "いちどきづくと、どこにでもみえてきます。",
           ("くりかえし", "パターン")),
    "f2": ("ちいさなへんかが、おおきなけっかをうみます。", "さいしょのいっぽが、すべてをかえるのです。",
           ("ちいさなへんか",)),
    "t1": ("ひとびとは、ずっとむかしからこれにひかれてきました。", "じだいごとに、みえかたもかわりました。",
           ("むかしといま",)),
    "sc1": ("そのおおきさは、つい、ちいさくみつもってしまいます。", "すこしはなれてみると、おどろきます。",
            ("もっとおおきく",)),
    "e1": ("とくべつなばしょにいかなくても、みることができます。", "ふだんのくらしのなかにも、かくれています。",
           ("みのまわりに",)),
    "me1": ("しればしるほど、せかいのみかたがかわります。", "だからこそ、おもしろいのです。",
            ("あたらしいめ",)),
    "cl1": ("こんど「{s}」にであったら、もういちどよくみてください。", "きっと、あたらしいはっけんがあります。",
            ("よくみてみよう",)),
    "cl2": ("このものがたりは、まだつづいています。", "つぎのページをかくのは、あなたかもしれません。",
            ("つづく", "つぎのページ")),
})

ZH = _set("zh", {
    "hook1": ("关于「{s}」，有一件事大多数人从未注意到。", "请看下去，它会改变你的看法。", ("{focus}", "再看一眼")),
    "hook2": ("「{s}」背后藏着一个故事，它的开头出人意料。", "我们一起去看看。", ("{focus}", "隐藏的故事")),
    "q1": ("那么，这一切到底是怎么运作的？", "答案没有你想的那么简单。", ("真正的问题", "怎么做到的？")),
    "q2": ("这为什么重要？", "因为它悄悄地影响着我们的世界。", ("为什么重要",)),
    "c1": ("表面上，一切看起来都很简单。", "可在深处，各种力量在相互拉扯。", ("表面之下", "两面")),
    "p1": ("想象一下，第一次看到它的样子。", "每一个细节都有它的道理。", ("想象一下", "第一眼")),
    "f1": ("关键在于：同一个规律一再重复。", "一旦发现，你会处处看到它。", ("规律", "一再重复")),
    "f2": ("小小的变化，可能带来巨大的结果。", "很多时候，一切在开始时就决定了。", ("小变化", "大影响")),
    "t1": ("人们对它着迷已经很久了。", "每一代人都有不同的看法。", ("古往今来", "过去与现在")),
    "sc1": ("它的规模很容易被低估。", "退后一步，数字会让人惊叹。", ("放眼全局",)),
    "e1": ("你不需要实验室也能看到它。", "它就藏在日常生活里。", ("就在身边",)),
    "me1": ("了解「{s}」，会改变你看世界的方式。", "这正是它迷人的地方。", ("新的视角",)),
    "cl1": ("下次遇到「{s}」时，再仔细看一眼。", "总有比表面更多的东西。", ("仔细看看",)),
    "cl2": ("这个故事还在继续。", "也许下一章由你来写。", ("下一章", "未完待续")),
})

AR = _set("ar", {
    "hook1": ("إليك شيئًا لا يلاحظه معظم الناس عن «{s}».", "ابقَ معي، لأن هذا يغيّر نظرتك.",
              ("{focus}", "انظر مرة أخرى")),
    "hook2": ("وراء «{s}» قصة خفية، وتبدأ من مكان غير متوقع.", "لنتتبعها معًا.", ("{focus}", "القصة الخفية")),
    "q1": ("كيف يعمل كل هذا في الحقيقة؟", "الجواب أقل وضوحًا مما تظن.", ("السؤال الحقيقي", "كيف؟")),
    "q2": ("لماذا يهمنا هذا؟", "لأنه يشكّل عالمنا أكثر مما نلاحظ.", ("لماذا يهم",)),
    "c1": ("على السطح، يبدو كل شيء بسيطًا.", "لكن في الأعماق، تتجاذب قوى في كل اتجاه.", ("تحت السطح", "وجهان")),
    "p1": ("تخيّل «{s}» وأنت تراه لأول مرة.", "لكل تفصيل سبب.", ("تخيّل", "النظرة الأولى")),
    "f1": ("الفكرة الأساسية: نمط واحد يتكرر مرة بعد مرة.", "وحين تراه، ستجده في كل مكان.", ("النمط", "مرة بعد مرة")),
    "f2": ("تغيير صغير قد يصنع أثرًا هائلًا.", "وكثيرًا ما يُحسم كل شيء منذ البداية.", ("تغيير صغير", "أثر كبير")),
    "t1": ("افتتن الناس بهذا منذ زمن طويل.", "وكل جيل رآه بطريقة مختلفة.", ("عبر الزمن", "بين الأمس واليوم")),
    "sc1": ("من السهل أن نستهين بحجم كل هذا.", "ابتعد قليلًا، وستصبح الأرقام مذهلة.", ("فكّر أكبر",)),
    "e1": ("لا تحتاج إلى مختبر لتراه يعمل.", "آثاره موجودة في حياتنا اليومية.", ("من حولنا",)),
    "me1": ("فهم «{s}» يغيّر نظرتك إلى العالم.", "وهذا ما يجعله مدهشًا.", ("نظرة جديدة",)),
    "cl1": ("في المرة القادمة، انظر عن قرب.", "هناك دائمًا أكثر مما تراه العين.", ("انظر عن قرب",)),
    "cl2": ("قصة «{s}» ما زالت تُكتب.", "ربما تكتب أنت الفصل التالي.", ("الفصل التالي", "يتبع")),
})


RU = _set("ru", {
    "hook1": ("Вот что почти никто не замечает в теме «{s}».", "Останьтесь со мной: это меняет взгляд на всё.",
              ("{focus}", "Посмотрите снова")),
    "hook2": ("За темой «{s}» скрывается история, и начинается она там, где никто не ждёт.", "Давайте пройдём по ней.",
              ("{focus}", "Скрытая история")),
    "q1": ("Так как же всё это на самом деле устроено?", "Ответ не так очевиден, как кажется.",
           ("Главный вопрос", "Как это работает?")),
    "q2": ("Почему это важно?", "Потому что это тихо меняет наш мир сильнее, чем мы думаем.", ("Почему это важно",)),
    "c1": ("На поверхности всё кажется простым.", "Но в глубине силы тянут в разные стороны.",
           ("Под поверхностью", "Две стороны")),
    "p1": ("Представьте, что вы видите это впервые.", "У каждой детали есть своя причина.",
           ("Представьте", "Первый взгляд")),
    "f1": ("Главная идея: один и тот же узор повторяется снова и снова.", "Заметив его однажды, вы увидите его везде.",
           ("Узор", "Снова и снова")),
    "f2": ("Маленькое изменение может дать огромный результат.", "Часто всё решается в самом начале.",
           ("Малые перемены", "Большие последствия")),
    "t1": ("Люди интересуются этим уже очень давно.", "И каждое поколение видело это по-своему.",
           ("Сквозь время", "Тогда и сейчас")),
    "sc1": ("Масштаб всего этого легко недооценить.", "Отойдите подальше, и числа поразят воображение.",
            ("Шире взгляд",)),
    "e1": ("Чтобы увидеть это в деле, не нужна лаборатория.", "Следы этого есть в самой обычной жизни.",
           ("Вокруг нас",)),
    "me1": ("Понимание темы «{s}» меняет то, как вы видите мир.", "Именно поэтому она так увлекательна.",
            ("Новый взгляд",)),
    "cl1": ("Так что в следующий раз присмотритесь внимательнее.", "Здесь всегда происходит больше, чем видно глазу.",
            ("Присмотритесь",)),
    "cl2": ("История темы «{s}» ещё пишется.", "Может быть, следующую главу напишете вы.",
            ("Следующая глава", "Продолжение следует")),
})

KO = _set("ko", {
    "hook1": ("'{s}'에 대해 대부분의 사람들이 모르는 것이 있습니다.", "끝까지 봐 주세요. 보는 눈이 달라집니다.",
              ("{focus}", "다시 보기")),
    "hook2": ("'{s}' 뒤에는 숨겨진 이야기가 있습니다.", "함께 따라가 봅시다.", ("{focus}", "숨겨진 이야기")),
    "q1": ("그렇다면 이것은 실제로 어떻게 움직일까요?", "답은 생각보다 단순하지 않습니다.",
           ("진짜 질문", "어떻게?")),
    "q2": ("이것이 왜 중요할까요?", "우리가 생각하는 것보다 세상을 더 많이 바꾸기 때문입니다.", ("왜 중요할까",)),
    "c1": ("겉으로는 모든 것이 단순해 보입니다.", "하지만 그 안에서는 여러 힘이 서로 당기고 있습니다.",
           ("표면 아래", "두 얼굴")),
    "p1": ("처음 보는 순간을 상상해 보세요.", "모든 작은 부분에는 이유가 있습니다.", ("상상해 보세요", "첫 만남")),
    "f1": ("핵심은 같은 모양이 계속해서 반복된다는 것입니다.", "한 번 보이면 어디에서나 보입니다.",
           ("반복", "패턴")),
    "f2": ("작은 변화가 큰 결과를 만듭니다.", "처음의 한 걸음이 모든 것을 바꿉니다.", ("작은 변화", "큰 결과")),
    "t1": ("사람들은 아주 오래전부터 이것에 매료되어 왔습니다.", "시대마다 보는 방식도 달랐습니다.",
           ("시간을 넘어", "그때와 지금")),
    "sc1": ("그 규모는 쉽게 과소평가됩니다.", "조금 떨어져서 보면 숫자가 놀랍습니다.", ("더 크게 보기",)),
    "e1": ("실험실이 없어도 볼 수 있습니다.", "평범한 일상 속에도 숨어 있습니다.", ("우리 주변에",)),
    "me1": ("'{s}'을(를) 이해하면 세상을 보는 눈이 바뀝니다.", "그래서 더욱 흥미롭습니다.", ("새로운 시선",)),
    "cl1": ("다음에 '{s}'을(를) 만나면 한 번 더 자세히 보세요.", "언제나 보이는 것보다 더 많은 것이 있습니다.",
            ("자세히 보기",)),
    "cl2": ("이 이야기는 아직 계속되고 있습니다.", "다음 장은 당신이 쓸지도 모릅니다.", ("다음 장", "계속")),
})

HI = _set("hi", {
    "hook1": ("{s} के बारे में एक बात है जिस पर लगभग कोई ध्यान नहीं देता।", "अंत तक देखिए, नज़रिया बदल जाएगा।",
              ("{focus}", "फिर से देखिए")),
    "hook2": ("{s} के पीछे एक छिपी हुई कहानी है, जो अनोखी जगह से शुरू होती है।", "चलिए, उसे साथ में खोजते हैं।",
              ("{focus}", "छिपी कहानी")),
    "q1": ("तो आखिर यह सब काम कैसे करता है?", "जवाब उतना आसान नहीं जितना लगता है।", ("असली सवाल", "कैसे?")),
    "q2": ("यह क्यों मायने रखता है?", "क्योंकि यह हमारी दुनिया को सोच से ज़्यादा बदलता है।", ("क्यों ज़रूरी है",)),
    "c1": ("ऊपर से सब कुछ सरल लगता है।", "पर अंदर कई ताक़तें अलग अलग दिशाओं में खींचती हैं।",
           ("सतह के नीचे", "दो पहलू")),
    "p1": ("सोचिए, आप इसे पहली बार देख रहे हैं।", "हर छोटी चीज़ की एक वजह होती है।", ("सोचिए", "पहली नज़र")),
    "f1": ("मुख्य बात यह है कि एक ही पैटर्न बार बार दोहराया जाता है।", "एक बार दिख जाए, तो हर जगह दिखता है।",
           ("पैटर्न", "बार बार")),
    "f2": ("छोटा सा बदलाव बहुत बड़ा असर डाल सकता है।", "अक्सर सब कुछ शुरुआत में ही तय हो जाता है।",
           ("छोटा बदलाव", "बड़ा असर")),
    "t1": ("लोग बहुत पुराने समय से इससे मोहित रहे हैं।", "हर पीढ़ी ने इसे अलग ढंग से देखा है।",
           ("समय के साथ", "तब और अब")),
    "sc1": ("इसके पैमाने को कम आँकना आसान है।", "थोड़ा पीछे हटिए, और आँकड़े हैरान कर देंगे।", ("बड़ा सोचिए",)),
    "e1": ("इसे काम करते देखने के लिए प्रयोगशाला की ज़रूरत नहीं।", "यह रोज़मर्रा की ज़िंदगी में भी छिपा है।",
           ("हमारे आस पास",)),
    "me1": ("{s} को समझना दुनिया को देखने का तरीका बदल देता है।", "यही इसे इतना दिलचस्प बनाता है।", ("नई नज़र",)),
    "cl1": ("तो अगली बार, ज़रा ध्यान से देखिए।", "जो दिखता है, उससे हमेशा ज़्यादा होता है।", ("ध्यान से देखिए",)),
    "cl2": ("{s} की कहानी अभी लिखी जा रही है।", "शायद अगला अध्याय आप लिखें।", ("अगला अध्याय", "जारी है")),
})

HE = _set("he", {
    "hook1": ("הנה משהו שכמעט אף אחד לא שם לב אליו בנושא \"{s}\".", "הישארו איתי, כי זה משנה את כל התמונה.",
              ("{focus}", "תסתכלו שוב")),
    "hook2": ("מאחורי \"{s}\" מסתתר סיפור, והוא מתחיל במקום לא צפוי.", "בואו נעקוב אחריו.",
              ("{focus}", "הסיפור הנסתר")),
    "q1": ("אז איך כל זה באמת עובד?", "התשובה פחות ברורה ממה שנדמה.", ("השאלה האמיתית", "איך?")),
    "q2": ("למה זה חשוב?", "כי זה משנה את העולם שלנו יותר ממה שאנחנו שמים לב.", ("למה זה חשוב",)),
    "c1": ("על פני השטח הכול נראה פשוט.", "אבל מתחת, כוחות מושכים לכל הכיוונים.", ("מתחת לפני השטח", "שני צדדים")),
    "p1": ("דמיינו שאתם רואים את זה בפעם הראשונה.", "לכל פרט יש סיבה.", ("דמיינו", "מבט ראשון")),
    "f1": ("הרעיון המרכזי: אותו דפוס חוזר שוב ושוב.", "ברגע שרואים אותו, רואים אותו בכל מקום.",
           ("הדפוס", "שוב ושוב")),
    "f2": ("שינוי קטן יכול ליצור השפעה עצומה.", "לעיתים קרובות הכול נקבע כבר בהתחלה.", ("שינוי קטן", "השפעה גדולה")),
    "t1": ("אנשים מתעניינים בזה כבר הרבה מאוד זמן.", "וכל דור ראה את זה אחרת.", ("לאורך הזמן", "אז והיום")),
    "sc1": ("קל להמעיט בגודל של כל זה.", "התרחקו קצת, והמספרים יפתיעו אתכם.", ("לחשוב בגדול",)),
    "e1": ("לא צריך מעבדה כדי לראות את זה פועל.", "זה נמצא גם בחיי היומיום.", ("סביבנו",)),
    "me1": ("הבנה של \"{s}\" משנה את הדרך שבה רואים את העולם.", "וזה מה שהופך את זה למרתק.", ("מבט חדש",)),
    "cl1": ("אז בפעם הבאה, הסתכלו מקרוב.", "תמיד קורה יותר ממה שנראה לעין.", ("להסתכל מקרוב",)),
    "cl2": ("הסיפור של \"{s}\" עדיין נכתב.", "אולי אתם תכתבו את הפרק הבא.", ("הפרק הבא", "המשך יבוא")),
})

WORLD_TEMPLATES: dict[str, tuple[Template, ...]] = {
    "fr": FR, "de": DE, "es": ES, "ja": JA, "zh": ZH, "ar": AR, "ru": RU, "ko": KO, "hi": HI, "he": HE,
}
