"""LangChain: RAG over the bundled Chinese documents (examples/data/*.txt) with real models.

DashScope serves all three models (the AIsa gateway has no embeddings endpoint):
text-embedding-v4 embeds the passages, qwen3-rerank reorders what the vector store retrieved,
and qwen-plus answers from the best passages. Without DASHSCOPE_API_KEY everything runs against
the offline gateway, whose vectors and rerank scores come from the text itself (hashed character
n-grams), so the retrieval below is real even offline; only the answer is emulated.

    python examples/langchain_rag.py
"""

from _gateway import DATA, gateway
from langchain_core.documents import Document
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda
from langchain_core.vectorstores import InMemoryVectorStore
from langchain_text_splitters import RecursiveCharacterTextSplitter

from langchain_cn_llm import ChatCNLLM, CNLLMEmbeddings, CNLLMRerank

# Chinese has no spaces between words: after paragraphs and lines, split at the ends of
# sentences and clauses (。！？；), each mark kept with its sentence, then at commas.
splitter = RecursiveCharacterTextSplitter(
    separators=["\n\n", "\n", "。", "！", "？", "；", "，", ""],
    keep_separator="end",
    chunk_size=100,
    chunk_overlap=0,
)
files = [
    Document(path.read_text(encoding="utf-8"), metadata={"source": path.name})
    for path in sorted(DATA.glob("*.txt"))
]
passages = splitter.split_documents(files)


def format_docs(docs: list[Document]) -> str:
    return "\n\n".join(f"[{d.metadata['source']}] {d.page_content}" for d in docs)


prompt = ChatPromptTemplate.from_messages(
    [
        ("system", "只根据以下资料回答问题，并注明出处。\n\n{context}"),
        ("human", "{question}"),
    ]
)

with gateway("dashscope") as settings:
    embeddings = CNLLMEmbeddings(model="text-embedding-v4", **settings)
    store = InMemoryVectorStore.from_documents(passages, embeddings)  # batches of 10, concurrent
    retriever = store.as_retriever(search_kwargs={"k": 8})
    rerank = CNLLMRerank(model="qwen3-rerank", top_n=3, **settings)
    llm = ChatCNLLM(model="qwen-plus", temperature=0, **settings)

    # Retrieve 8 by vector similarity, keep the 3 the reranker scores highest, answer from them.
    retrieve = RunnableLambda(lambda q: rerank.compress_documents(retriever.invoke(q), q))
    question = "乌龙茶属于哪一类茶？"
    docs = retrieve.invoke(question)
    answer = (prompt | llm).invoke({"context": format_docs(docs), "question": question})

    print(f"indexed {len(passages)} passages from {len(files)} files in {DATA.name}/")
    print("question:", question)
    best = docs[0]
    print(f"best passage: [{best.metadata['source']}] {best.page_content}")
    print("rerank scores:", [round(d.metadata["relevance_score"], 3) for d in docs])
    print("answer:", answer.content)
